/**
 * The pipeline loader reads only regular files of bounded size: `/dev/zero`, a FIFO, a directory
 * and a too-large file are refused by the real CLI with exit status 2 and one line naming the
 * file and why — no stack trace, no blocked thread, no half-gigabyte read.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { YAML_BOUNDS } from "../../shared/yaml/index.js";
import { CliSandbox, type CliResult } from "../helpers/cli.js";

const run = promisify(execFile);

function assertRefused(r: CliResult, path: string, why: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.ok(lines[0]?.startsWith(`stagefarm: error: pipeline file "${path}" `), lines[0]);
  assert.match(lines[0] ?? "", why);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
}

void describe("pipeline files that are not regular files or are too large", { timeout: 120_000 }, () => {
  void test("validate /dev/zero exits 2: a character device", async () => {
    await using sb = await CliSandbox.create();
    assertRefused(
      await sb.run(["validate", "/dev/zero"]),
      "/dev/zero",
      /is a character device, not a regular file/,
    );
  });

  void test("validate and plan of a FIFO exit 2 without waiting for a writer", async () => {
    await using sb = await CliSandbox.create();
    const fifo = join(sb.dir, "pipe.yaml");
    await run("mkfifo", [fifo]);
    for (const cmd of ["validate", "plan"])
      assertRefused(await sb.run([cmd, fifo]), fifo, /is a FIFO \(named pipe\), not a regular file/);
  });

  void test("a directory exits 2 naming the file to give", async () => {
    await using sb = await CliSandbox.create();
    const dir = join(sb.dir, "pipelines");
    await mkdir(dir);
    assertRefused(
      await sb.run(["validate", dir]),
      dir,
      /is a directory; give the pipeline file \(e\.g\. ".*pipeline\.yaml"\)/,
    );
  });

  void test("a file over the size limit exits 2 before it is parsed", async () => {
    await using sb = await CliSandbox.create();
    const big = join(sb.dir, "big.yaml");
    await writeFile(big, `stages: {}\n# ${"x".repeat(YAML_BOUNDS.maxBytes)}\n`);
    assertRefused(
      await sb.run(["validate", big]),
      big,
      new RegExp(`more than the limit of ${YAML_BOUNDS.maxBytes} bytes for a pipeline`),
    );
  });

  void test("a few hundred bytes of alias bomb: validate finishes and exits 2 naming the limit", async () => {
    await using sb = await CliSandbox.create();
    let levels = "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 10; i++)
      levels += `      l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(",")}]\n`;
    const bomb = join(sb.dir, "bomb.yaml");
    await writeFile(bomb, `stages:\n  a:\n    runner: shell\n    script: make\n    with:\n${levels}`);
    const r = await sb.run(["validate", bomb]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bomb\.yaml:\d+:\d+: error: .*\(the alias expansion limit\)/);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  });

  void test("a missing pipeline file is bad input: exit 2 from every command that reads one", async () => {
    await using sb = await CliSandbox.create();
    const missing = join(sb.dir, "no-such.yaml");
    for (const args of [
      ["validate", missing],
      ["plan", missing],
      ["run", missing],
      ["stats", missing],
      ["submit", missing, "--coordinator", "127.0.0.1:1"],
    ]) {
      const r = await sb.run(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr, `stagefarm: error: pipeline file not found: "${missing}"\n`, args[0]);
    }
  });

  void test("validate --json prints problems as one JSON document, with the exit status of validate", async () => {
    await using sb = await CliSandbox.create();
    const bad = join(sb.dir, "bad.yaml");
    await writeFile(bad, 'stages:\n  a:\n    needs: [b]\n    script: "true"\n');
    const r = await sb.run(["validate", "--json", bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, "", "nothing but the JSON document");
    assert.deepEqual(JSON.parse(r.stdout), {
      ok: false,
      file: bad,
      code: "invalid_pipeline",
      issues: [
        { file: bad, line: 2, col: 3, message: 'stage "a": missing required field "runner"' },
        { file: bad, line: 3, col: 5, message: 'stage "a": unknown key "needs"' },
      ],
    });
    const missing = await sb.run(["validate", "--json", join(sb.dir, "gone.yaml")]);
    assert.equal(missing.code, 2);
    const doc = JSON.parse(missing.stdout) as { ok: boolean; code: string; message: string };
    assert.deepEqual([doc.ok, doc.code], [false, "invalid_argument"]);
    assert.match(doc.message, /pipeline file not found/);
    const good = await sb.run(["validate", "--json", "pipelines/demo/pipeline.yaml"]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal((JSON.parse(good.stdout) as { ok: boolean }).ok, true);
  });

  void test("submit refuses the same files before connecting anywhere", async () => {
    await using sb = await CliSandbox.create();
    assertRefused(
      await sb.run(["submit", "/dev/zero", "--coordinator", "127.0.0.1:1"]),
      "/dev/zero",
      /is a character device/,
    );
  });
});
