/**
 * `stagefarm run` on a terminal (a pseudo-TTY from util-linux `script`): the live status area
 * shows the running stage with elapsed / expected time, the progress and an ETA; a failing
 * stage prints one error line and its log tail, with no JSON log records and no stack.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";
import { cliOnTty, ESC } from "../helpers/tty.js";

const runOnTty = (sb: CliSandbox, args: string[]) => cliOnTty(sb.env, args);

test("run on a terminal keeps a status area: elapsed / expected per running stage, progress and ETA", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "p.yaml");
  await writeFile(
    file,
    `pipeline: tty-eta
stages:
  quick:
    runner: shell
    estimate: 1s
    script: mkdir -p out && echo q > out/q
    outputs: { q: out/q }
  slow:
    runner: shell
    estimate: 1m
    inputs: { q: { from: quick.q, unpack: false } }
    script: sleep 3 && mkdir -p out && cp inputs/q out/s
    outputs: { s: out/s }
  last:
    runner: shell
    estimate: 30s
    inputs: { s: { from: slow.s, unpack: false } }
    script: mkdir -p out && cp inputs/s out/l
    outputs: { l: out/l }
`,
  );
  const r = await runOnTty(sb, ["run", file]);
  assert.equal(r.code, 0, r.stdout);
  // Redrawn at least once while `slow` ran (1 s refresh, 3 s stage): elapsed grows, expected is
  // its estimate; the ETA is what remains of slow (1m minus elapsed) plus last (30s).
  assert.match(r.stdout, /^ {2}slow {2}[1-3]\.\ds \/ ~1m00s$/m);
  assert.match(r.stdout, /^1 of 3 stages · 1 running · ETA ~1m2\ds$/m);
  assert.match(r.stdout, />>> Done {5}slow \(2 of 3\)/);
  assert.match(r.stdout, />>> tty-eta: succeeded/);
  // The area is erased in place (cursor up + clear below) rather than scrolled away, and the
  // last thing on the screen is the summary, not the area.
  assert.match(r.stdout, new RegExp(`${ESC}\\[\\d*A${ESC}\\[0J`));
  const after = r.stdout.slice(r.stdout.lastIndexOf(">>> tty-eta: succeeded"));
  assert.doesNotMatch(after, /ETA/);

  // Not a terminal: line mode, no status area.
  const plain = await sb.run(["run", file]);
  assert.equal(plain.code, 0);
  assert.doesNotMatch(plain.stdout, new RegExp(`ETA|${ESC}`));
  assert.match(plain.stdout, />>> Cached {3}slow/);
});

test("a failing stage on a terminal prints its error and log tail, no JSON records and no stack", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "p.yaml");
  await writeFile(
    file,
    `pipeline: tty-fail
stages:
  broken:
    runner: shell
    script: |
      for i in $(seq 1 40); do echo "build line $i"; done
      exit 3
`,
  );
  const quiet = await runOnTty(sb, ["run", file, "-q"]);
  assert.equal(quiet.code, 1, quiet.stdout);
  assert.match(
    quiet.stdout,
    />>> Failed {3}broken \(1 of 1\) after [\d.]+s: stage "broken" failed: script exited with status 3/,
  );
  // The last 20 lines of its log, not the whole log.
  assert.match(quiet.stdout, /^ {4}build line 40$/m);
  assert.match(quiet.stdout, /^ {4}build line 21$/m);
  assert.doesNotMatch(quiet.stdout, /build line 20$/m);
  const loud = await runOnTty(sb, ["run", file]);
  assert.equal(loud.code, 1);
  assert.match(loud.stdout, /\[broken\] build line 40/);
  for (const out of [quiet.stdout, loud.stdout]) {
    assert.doesNotMatch(out, /"level":|"msg":/, "no JSON log records");
    assert.doesNotMatch(out, /^\s+at .+:\d+:\d+\)?$/m, "no stack frames");
  }
  assert.doesNotMatch(quiet.stdout, /ETA/, "-q: line mode");
  // An error of the CLI itself: one line; its stack (and its causes') only with --verbose.
  const missing = join(sb.dir, "missing.yaml");
  const terse = await sb.run(["run", missing]);
  assert.equal(terse.code, 2);
  assert.equal(terse.stderr, `stagefarm: error: pipeline file not found: "${missing}"\n`);
  const verbose = await sb.run(["--verbose", "run", missing]);
  assert.equal(verbose.code, 2);
  assert.match(verbose.stderr, /^\s+at .+:\d+:\d+\)?$/m);
  assert.match(verbose.stderr, /caused by: Error: ENOENT/);
});
