/**
 * Log records on stderr: rendered for people on a terminal, JSON lines for services and tools
 * (issue 20: a failing `stagefarm run` printed raw JSON with stacks). The terminal case runs the
 * CLI under util-linux `script`, a real pseudo-TTY.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { cliPath, CliSandbox, repoRoot } from "../helpers/cli.js";

// Two warnings ("serving unprotected") are logged before the listen fails: a short, serverless
// way to make the CLI log something.
const ARGS = ["up", "--http", "192.0.2.1:9464", "--insecure"];

function underPty(sb: CliSandbox, args: string[]): Promise<string> {
  const shellWords = [process.execPath, cliPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  return new Promise((resolve, reject) => {
    execFile(
      "script",
      ["-qec", shellWords.join(" "), "/dev/null"],
      { cwd: repoRoot, env: sb.env, timeout: 60_000 },
      (err, stdout) => {
        // A non-zero exit of the CLI is expected here; only a failure to run `script` is not.
        if (err !== null && typeof err.code !== "number") reject(new Error(`script: ${err.message}`));
        else resolve(stdout);
      },
    );
  });
}

void describe("log format", { timeout: 120_000 }, () => {
  void test("not a terminal: JSON lines (services, collectors)", async () => {
    await using sb = await CliSandbox.create();
    const r = await sb.run(ARGS);
    const logs = r.stderr.trimEnd().split("\n").slice(0, -1);
    assert.equal(logs.length, 2, r.stderr);
    for (const line of logs) {
      const rec = JSON.parse(line) as { level: number; msg: string };
      assert.deepEqual([rec.level, rec.msg], [40, "serving unprotected (--insecure)"]);
    }
  });

  void test("a terminal: one readable line per record, no JSON object per line", async () => {
    await using sb = await CliSandbox.create();
    const out = (await underPty(sb, ARGS)).replaceAll("\r", "");
    const logs = out.trimEnd().split("\n").slice(0, -1);
    assert.equal(logs.length, 2, out);
    for (const line of logs)
      assert.match(line, /^\[\d\d:\d\d:\d\d\] WARN: serving unprotected \(--insecure\) \{"risk":/);
    assert.match(out, /stagefarm: error: the HTTP server cannot listen on 192\.0\.2\.1:9464/);
  });

  void test("--log-format and STAGEFARM_LOG_FORMAT override the choice; a bad value exits 2", async () => {
    await using sb = await CliSandbox.create();
    const pretty = await sb.run(["--log-format", "pretty", ...ARGS]);
    assert.match(pretty.stderr, /^\[\d\d:\d\d:\d\d\] WARN: serving unprotected/);
    const json = (await underPty(sb, ["--log-format", "json", ...ARGS])).replaceAll("\r", "");
    assert.equal(
      (JSON.parse(json.split("\n")[0] ?? "") as { msg: string }).msg,
      "serving unprotected (--insecure)",
    );
    const bad = await sb.run(["--log-format", "xml", ...ARGS]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /invalid configuration/);
    assert.match(bad.stderr, /logFormat/);
  });
  void test("a failing stage in `stagefarm run` on a terminal: no stack trace", async () => {
    await using sb = await CliSandbox.create();
    const file = join(sb.dir, "fail.yaml");
    await writeFile(
      file,
      "pipeline: failing\nstages:\n  a:\n    runner: shell\n    script: |\n      echo oops >&2\n      exit 3\n",
    );
    const out = (await underPty(sb, ["run", file])).replaceAll("\r", "");
    assert.match(out, /Failed +a .*script exited with status 3/);
    assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
    assert.doesNotMatch(out, /^\{"level"/m, "no JSON log lines");
    assert.doesNotMatch(out, /(WARN|ERROR): stage failed/, "the failure is told once, by the progress lines");
  });
});
