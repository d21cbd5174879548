/**
 * The catalyst double (test/doubles/catalyst-double.ts) on its own: its version, and the
 * refusals it shares with Catalyst (a missing or ambiguous seed, a missing portage_confdir or
 * snapshot, a required key not set), and what Catalyst 4.1.1's own code refuses when run with
 * python3 on the same input (shared/catalyst/upstream-4.1.1.ts names each case).
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

  async function double(
    spec: string,
    opts: { conf?: string; version?: string } = {},
  ): Promise<{ code: number; stderr: string; stdout: string }> {
    await writeFile(join(dir, "t.spec"), spec);
    let confPath = join(dir, "catalyst.conf");
    if (opts.conf !== undefined) {
      confPath = join(dir, "other.conf");
      await writeFile(confPath, `storedir = "${storedir}"\n${opts.conf}`);
    }
    return await execFileAsync(process.execPath, [
      CATALYST_DOUBLE,
      ...(opts.version !== undefined ? ["--double-version", opts.version] : []),
      "-c",
      confPath,
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

  void test("catalyst.conf values Catalyst 4.1.1 crashes on or refuses", async () => {
    const cases: Array<[string, RegExp]> = [
      ['options = "pkgcache seedcache"\n', /'str' object has no attribute 'extend'/],
      ["digests = []\n", /'set' object has no attribute 'extend'/],
      ['options = []\ndigests = "sha512"\n', /These are not valid digest entries:\n1, 2, 5, a, h, s/],
      ['options = []\nrepo_name = "50%"\n', /ValueError: incomplete format/],
    ];
    for (const [conf, refusal] of cases) {
      const r = await double(SPEC(""), { conf });
      assert.equal(r.code, 1, conf);
      assert.match(r.stderr, refusal, conf);
    }
    // `%%` is Catalyst's escape: read as one `%` (the runner writes conf strings so).
    const r = await double(SPEC(""), { conf: 'options = []\nrepo_name = "g%%x"\n' });
    assert.match(r.stderr, new RegExp(`snapshot ${storedir}/snapshots/g%x-abc\\.sqfs does not exist`));
  });

  void test("spec keys its target does not accept, and a lone % on a key line", async () => {
    let r = await double(SPEC("livecd/isos: x.iso\n"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Argument "livecd\/isos" not recognized\./);
    r = await double(SPEC("").replace("version_stamp: t", "version_stamp: 50%"));
    assert.match(r.stderr, /ValueError: incomplete format/);
    // On a continuation line the value is not formatted.
    r = await double(SPEC("cflags:\n\t-O2%\n"));
    assert.doesNotMatch(r.stderr, /format/);
    assert.match(r.stderr, /File Not Found|snapshot/);
  });

  void test("a cdtar only Catalyst master ships", async () => {
    const spec = [
      "subarch: amd64",
      "target: livecd-stage2",
      "version_stamp: t",
      "rel_type: default",
      "profile: default/linux/amd64/23.0",
      "snapshot_treeish: abc",
      "source_subpath: default/seed",
      "boot/kernel: gentoo",
      "boot/kernel/gentoo/distkernel: yes",
      "livecd/cdtar: /usr/share/catalyst/livecd/cdtar/grub-theme-gentoo_frosted.tar.bz2",
      "",
    ].join("\n");
    let r = await double(spec, { version: "4.1.1" });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /Cannot locate specified cdtar: \/usr\/share\/catalyst\/livecd\/cdtar\/grub-theme-gentoo_frosted\.tar\.bz2/,
    );
    r = await double(spec, { version: "master" });
    assert.doesNotMatch(r.stderr, /cdtar/);
    // boot/kernel/<name>/* is valid only for a name boot/kernel lists.
    r = await double(spec.replace("boot/kernel/gentoo/distkernel", "boot/kernel/other/distkernel"), {
      version: "master",
    });
    assert.match(r.stderr, /Argument "boot\/kernel\/other\/distkernel" not recognized\./);
  });
});
