/**
 * `stagefarm run` when things go wrong: a failing stage stops its dependents while independent
 * branches finish; a fixed rerun resumes from the cache; bad pipelines name file:line:col;
 * Ctrl-C cancels running stages and leaves no process behind.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";
import { processesWith } from "../helpers/leak-probes.js";
import { poll } from "../helpers/poll.js";

const pipeline = (failing: boolean) => `pipeline: branches
stages:
  root:
    runner: shell
    script: mkdir -p out && echo root > out/root.txt
    outputs: { file: out/root.txt }
  broken:
    runner: shell
    inputs: { r: { from: root.file, unpack: false } }
    script: |
      echo "about to fail"
      ${failing ? "exit 3" : "true"}
      mkdir -p out && cat inputs/r > out/x
    outputs: { x: out/x }
  after-broken:
    runner: shell
    inputs: { x: { from: broken.x, unpack: false } }
    script: mkdir -p out && cp inputs/x out/y
    outputs: { y: out/y }
  independent:
    runner: shell
    inputs: { r: { from: root.file, unpack: false } }
    script: mkdir -p out && sleep 1 && cp inputs/r out/z
    outputs: { z: out/z }
`;

test("a failing stage skips its dependents, independent branches finish, and a fixed rerun resumes", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "pipeline.yaml");
  await writeFile(file, pipeline(true));
  const r1 = await sb.run(["run", file, "--json"]);
  assert.equal(r1.code, 1);
  const s1 = lastJsonLine(r1.stdout) as {
    status: string;
    stages: Record<string, number>;
    results: Record<string, { state: string; error?: string; reason?: string }>;
  };
  assert.equal(s1.status, "failed");
  assert.equal(s1.results["broken"]?.state, "failed");
  assert.match(s1.results["broken"]?.error ?? "", /exited with status 3/);
  assert.equal(s1.results["after-broken"]?.state, "skipped");
  assert.match(s1.results["after-broken"]?.reason ?? "", /broken failed/);
  assert.equal(s1.results["independent"]?.state, "done");
  assert.equal(s1.stages["failed"], 1);
  assert.equal(s1.stages["skipped"], 1);
  assert.match(r1.stderr, /\[broken\] about to fail/);
  assert.match(r1.stderr, />>> Failed\s+broken/);

  await writeFile(file, pipeline(false));
  const r2 = await sb.run(["run", file, "--json"]);
  assert.equal(r2.code, 0, r2.stderr);
  const s2 = lastJsonLine(r2.stdout) as { results: Record<string, { state: string }> };
  assert.equal(s2.results["root"]?.state, "cached");
  assert.equal(s2.results["independent"]?.state, "cached");
  assert.equal(s2.results["broken"]?.state, "done");
  assert.equal(s2.results["after-broken"]?.state, "done");
});

test("an invalid pipeline is refused with file:line:col and exit status 2", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "bad.yaml");
  await writeFile(
    file,
    "stages:\n  a:\n    runner: shell\n    script: 'true'\n    inputs: { x: nowhere.out }\n",
  );
  const r = await sb.run(["run", file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:5:\d+: error: .*unknown stage "nowhere"/);
  const v = await sb.run(["validate", file]);
  assert.equal(v.code, 2);
});

test("Ctrl-C cancels running stages, kills their processes, and the next run works", async () => {
  await using sb = await CliSandbox.create();
  const marker = `sf-marker-${randomUUID()}`;
  const file = join(sb.dir, "slow.yaml");
  await writeFile(
    file,
    `stages:\n  slow:\n    runner: shell\n    script: |\n      bash -c 'exec -a ${marker} sleep 300' &\n      bash -c 'exec -a ${marker} sleep 301'\n    outputs: { o: out }\n`,
  );
  const child = sb.spawn(["run", file]);
  try {
    await poll(async () => (await processesWith(marker, { match: "substring" })).length > 0, {
      timeoutMs: 30_000,
      what: "the stage's processes to start",
    });
    assert.equal(await child.stop("SIGINT"), 130, child.describe());
    assert.match(child.stdout, /cancelling/);
    await poll(async () => (await processesWith(marker, { match: "substring" })).length === 0, {
      timeoutMs: 10_000,
      what: "no stage process left",
    });
  } finally {
    child.kill();
    for (const pid of await processesWith(marker, { match: "substring" })) process.kill(pid, "SIGKILL");
  }
  await writeFile(
    file,
    `stages:\n  slow:\n    runner: shell\n    script: mkdir -p out && echo ok > out/f\n    outputs: { o: out }\n`,
  );
  const again = await sb.run(["run", file]);
  assert.equal(again.code, 0, again.stderr);
});
