/**
 * The release tarball (scripts/release.mjs) installs without a build: unpacked into a prefix
 * outside the checkout, its launcher runs `stagefarm --version`, validates a shipped pipeline and
 * makes a token (which loads the production dependencies: commander, zod, yaml, the auth module)
 * with nothing but PATH in the environment, from another working directory. The archive holds
 * no compiled tests, no dev dependencies and no absolute or parent paths.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/cli.js";

const run = promisify(execFile);
const PATH = process.env["PATH"] ?? "/usr/bin:/bin";

describe("release tarball", () => {
  test("unpacks to a prefix and runs there without the checkout", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-release-"));
    try {
      const version = (
        JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { version: string }
      ).version;
      await run(
        process.execPath,
        [join(repoRoot, "scripts/release.mjs"), "--no-build", "--out", join(dir, "out")],
        {
          cwd: repoRoot,
          timeout: 300_000,
        },
      );
      const tarball = join(dir, "out", `stagefarm-${version}.tar.gz`);
      const { stdout: listing } = await run("tar", ["-tzf", tarball], { maxBuffer: 64 << 20 });
      const entries = listing.split("\n").filter((e) => e !== "");
      assert.ok(entries.length > 100, "the archive has the tree");
      for (const e of entries) {
        assert.ok(e.startsWith(`stagefarm-${version}/`) && !e.split("/").includes(".."), `entry ${e}`);
        assert.ok(!e.startsWith(`stagefarm-${version}/dist/test/`), `no compiled tests: ${e}`);
      }
      for (const dev of ["typescript", "eslint", "prettier", "s3rver", "vite"])
        assert.ok(
          !entries.includes(`stagefarm-${version}/node_modules/${dev}/`),
          `dev dependency ${dev} left out`,
        );
      for (const need of ["bin/stagefarm", "dist/cli/main.js", "node_modules/@grpc/grpc-js/package.json"])
        assert.ok(entries.includes(`stagefarm-${version}/${need}`), `has ${need}`);

      const prefix = join(dir, "opt");
      await run("mkdir", ["-p", prefix]);
      await run("tar", ["-C", prefix, "-xzf", tarball]);
      const launcher = join(prefix, `stagefarm-${version}`, "bin", "stagefarm");
      assert.ok(((await stat(launcher)).mode & 0o111) !== 0, "the launcher is executable");
      const opts = { cwd: "/", env: { PATH }, timeout: 60_000 };
      const { stdout: v } = await run(launcher, ["--version"], opts);
      assert.equal(v.trim(), version);
      const { stdout: ok } = await run(
        launcher,
        ["validate", join(prefix, `stagefarm-${version}`, "pipelines/demo/pipeline.yaml")],
        opts,
      );
      assert.match(ok, /: ok/);
      const { stdout: tok } = await run(
        launcher,
        ["certs", "token", "--role", "viewer", "--name", "x", "--json"],
        opts,
      );
      assert.match((JSON.parse(tok) as { token: string }).token, /^sft_/);
      // A symlink on PATH (ln -s PREFIX/bin/stagefarm /usr/local/bin/stagefarm) works too.
      await run("ln", ["-s", launcher, join(dir, "stagefarm")]);
      const { stdout: v2 } = await run(join(dir, "stagefarm"), ["--version"], opts);
      assert.equal(v2.trim(), version);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
