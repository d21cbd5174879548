/**
 * The catalyst double (test/doubles/catalyst-double.ts) on its own: its version, and the
 * refusals it shares with Catalyst (a missing or ambiguous seed, a missing portage_confdir or
 * snapshot, a required key not set).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CATALYST_DOUBLE } from "../helpers/catalyst-bench.js";

const execFileAsync = promisify(execFile);

void describe("the catalyst double refuses like Catalyst", () => {
  let dir: string;
  let storedir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-catalyst-double-"));
    storedir = join(dir, "store");
    await writeFile(join(dir, "catalyst.conf"), `storedir = "${storedir}"\noptions = []\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function double(spec: string): Promise<{ code: number; stderr: string; stdout: string }> {
    await writeFile(join(dir, "t.spec"), spec);
    return await execFileAsync(process.execPath, [
      CATALYST_DOUBLE,
      "-c",
      join(dir, "catalyst.conf"),
      "-f",
      join(dir, "t.spec"),
    ]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        stdout: err.stdout,
        stderr: err.stderr,
      }),
    );
  }

  const SPEC = (extra: string) =>
    `subarch: amd64\ntarget: stage1\nversion_stamp: t\nrel_type: default\nprofile: default/linux/amd64/23.0\nsnapshot_treeish: abc\nsource_subpath: default/seed\n${extra}`;

  void test("--version", async () => {
    const r = await execFileAsync(process.execPath, [CATALYST_DOUBLE, "--version"]);
    assert.match(r.stdout, /^Catalyst 4\.1\.1\n/);
  });

  void test("a missing seed, portage_confdir, snapshot or required key", async () => {
    let r = await double(SPEC(""));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`File Not Found: ${storedir}/builds/default/seed`));

    await mkdir(join(storedir, "builds/default"), { recursive: true });
    await writeFile(join(storedir, "builds/default/seed.tar.xz"), "x");
    await writeFile(join(storedir, "builds/default/seed.tar.gz"), "x");
    r = await double(SPEC(""));
    assert.match(r.stderr, /Ambiguous Filename/);
    await rm(join(storedir, "builds/default/seed.tar.gz"));

    r = await double(SPEC(`portage_confdir: ${dir}/nowhere\n`));
    assert.match(r.stderr, new RegExp(`Cannot locate specified portage_confdir: ${dir}/nowhere`));

    r = await double(SPEC(""));
    assert.match(r.stderr, new RegExp(`snapshot ${storedir}/snapshots/gentoo-abc\\.sqfs does not exist`));

    r = await double("target: stage1\nsubarch: amd64\n");
    assert.match(r.stderr, /Required argument "profile" not specified/);
  });
});
