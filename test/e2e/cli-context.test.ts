/**
 * A context of the config file supplies --coordinator to `runs` against a real coordinator
 * process (nats-server, s3rver, `stagefarm coordinator`); an unknown context is refused.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cliPath, repoRoot, type CliResult } from "../helpers/cli.js";
import { withFarm } from "../helpers/farm-processes.js";

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: repoRoot, env, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
  });
}

test("a context names the coordinator of `runs`; an unknown context is refused with the file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-ctx-"));
  try {
    await withFarm({}, async (farm) => {
      await mkdir(join(dir, "stagefarm"));
      const file = join(dir, "stagefarm", "config.toml");
      await writeFile(
        file,
        `default_context = "none"\n\n[contexts.none]\n\n[contexts.e2e]\ncoordinator = "${farm.address}"\n`,
      );
      const env: NodeJS.ProcessEnv = {
        PATH: process.env["PATH"],
        HOME: dir,
        XDG_CONFIG_HOME: dir,
        NO_COLOR: "1",
      };
      const ok = await cli(["--context", "e2e", "runs", "--json"], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), []);
      const viaEnv = await cli(["runs", "--json"], { ...env, STAGEFARM_CONTEXT: "e2e" });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const unknown = await cli(["--context", "prod", "runs"], env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /config\.toml: no context "prod" \(defined: "none", "e2e"\)/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
