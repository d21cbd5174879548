/**
 * Params never become code, through the built CLI: `validate` and `run` refuse a template in a
 * script at its position with exit status 2, and the shipped demo run with hostile params
 * prints the greeting verbatim and creates nothing.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { access, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

test("validate and run refuse a template in a script at its file:line:col, exit status 2", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "spliced.yaml");
  await writeFile(
    file,
    [
      "params:",
      "  greeting: hi",
      "stages:",
      "  docs:",
      "    runner: shell",
      "    script: |",
      "      mkdir -p out",
      `      echo 'hello \\- print "\${{ params.greeting }}, NAME!"'`,
      "",
    ].join("\n"),
  );
  const expected =
    'spliced.yaml:8:29: error: stage "docs" script: ${{ params.greeting }} inside a script would become shell code; ' +
    'pass it as data: env: { GREETING: "${{ params.greeting }}" } and use "$GREETING" in the script';
  const v = await sb.run(["validate", file]);
  assert.equal(v.code, 2, v.stderr);
  assert.ok(v.stderr.includes(expected), v.stderr);
  const j = await sb.run(["validate", file, "--json"]);
  assert.equal(j.code, 2);
  const r = await sb.run(["run", file, "--param", "greeting=x'; touch /tmp/nope; '"]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(expected), r.stderr);
  assert.equal(
    (await exists(join(sb.dir, "work"))) && (await readdir(join(sb.dir, "work"))).length > 0,
    false,
  );
});

test("the demo with a hostile greeting prints it verbatim and creates nothing", async () => {
  await using sb = await CliSandbox.create();
  const mark = `/tmp/sf-demo-pwned-${randomUUID()}`;
  const greeting = `'; touch ${mark}-q; ' "$(touch ${mark}-s)" \`touch ${mark}-b\` \\ \\" ??=`;
  const r = await sb.run([
    "run",
    "pipelines/demo/pipeline.yaml",
    "--json",
    "--param",
    `greeting=${greeting}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = lastJsonLine(r.stdout) as { status: string };
  assert.equal(s.status, "succeeded");
  assert.ok(r.stderr.includes(`[test] ${greeting}, stagefarm!\n`), r.stderr);
  for (const suffix of ["-q", "-s", "-b"]) assert.equal(await exists(`${mark}${suffix}`), false);

  // cflags reach make's command lines, so the build refuses what is not a compiler flag.
  const bad = await sb.run([
    "run",
    "pipelines/demo/pipeline.yaml",
    "--json",
    "--param",
    `cflags=-O2; touch ${mark}-c`,
  ]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /\[build\] cflags: only letters, digits, spaces/);
  assert.equal(await exists(`${mark}-c`), false);

  const nl = await sb.run(["run", "pipelines/demo/pipeline.yaml", "--json", "--param", "greeting=a\nb"]);
  assert.equal(nl.code, 1, nl.stderr);
  assert.match(nl.stderr, /\[build\] greeting: must be one line without control characters/);
});
