/**
 * The shipped gentoo-bootstrap stages, as pipelines/gentoo-bootstrap/pipeline.yaml has them,
 * run by the real chroot and emerge runners in a real Debian chroot (debootstrap, made once per
 * machine) with the emerge double as portage's emerge:
 *
 * - portage-setup then local-deps in a root set up like live-bootstrap's (curl, no wget): the
 *   profile's FETCHCOMMAND reaches portage (the procedure's FETCCOMMAND typo would leave
 *   portage with make.globals' wget, and the first fetch fails: checked too), the first emerge
 *   runs serially, and the emerges see live-bootstrap's SOURCE_DATE_EPOCH=0;
 * - world, rust and seed in the "new system": publish-only by default (no --getbinpkg unless
 *   use_farm_binhost=true), the farm's binrepos.conf stanza gone after each stage, the
 *   procedure's make.conf written after the world update with its EMERGE_DEFAULT_OPTS in force,
 *   and a seed that holds neither a farm binhost stanza nor the agent's resolv.conf (the old
 *   bind-mounted resolv.conf is checked to leak, so the check can fail).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BinhostClient, BinhostPackage } from "../../agent/runners/binpkgs/index.js";
import { createChrootRunner } from "../../agent/runners/chroot/index.js";
import { createEmergeRunner } from "../../agent/runners/emerge/index.js";
import type { RunnerContext } from "../../agent/runners/common/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { unpackFile } from "../../shared/pack/index.js";
import { loadPipeline, resolvePipeline, type ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { debootstrapCache } from "../helpers/debootstrap.js";
import { EMERGE_DOUBLE, emergeContext } from "../helpers/emerge-stage.js";
import { hostMountsUnder } from "../helpers/leak-probes.js";

const execFileAsync = promisify(execFile);

const PIPELINE = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../pipelines/gentoo-bootstrap/pipeline.yaml",
);
const REQUIRED = {
  live_bootstrap: "a".repeat(64),
  portage_sha256: "b".repeat(64),
  snapshot_sha256: "c".repeat(64),
};

/**
 * The fetch commands of portage-3.0.66.1's cnf/make.globals (github:gentoo/portage, tag
 * portage-3.0.66.1, lines 63-64): what portage uses when neither make.conf nor the profile sets
 * FETCHCOMMAND.
 */
const MAKE_GLOBALS = `FETCHCOMMAND="wget -t 3 -T 60 --passive-ftp -O \\"\\\${DISTDIR}/\\\${FILE}\\" \\"\\\${URI}\\""
RESUMECOMMAND="wget -c -t 3 -T 60 --passive-ftp -O \\"\\\${DISTDIR}/\\\${FILE}\\" \\"\\\${URI}\\""
`;

async function shipped(name: string, params: Record<string, string> = {}): Promise<ResolvedStage> {
  const spec = await loadPipeline(PIPELINE);
  const stage = resolvePipeline(spec, { ...REQUIRED, ...params }).find((s) => s.name === name);
  assert.ok(stage, `the pipeline has a stage "${name}"`);
  return stage;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function record(root: string, pn: string): Promise<Record<string, string>> {
  const text = await readFile(join(root, "usr/share", pn, "installed-by-double"), "utf8");
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

async function installExecutable(rootfs: string, path: string, from: { file: string } | { text: string }) {
  const target = join(rootfs, path);
  await mkdir(dirname(target), { recursive: true });
  if ("file" in from) await copyFile(from.file, target);
  else await writeFile(target, from.text);
  await chmod(target, 0o755);
}

class FakeBinhost implements BinhostClient {
  readonly confs: string[] = [];
  readonly published: Array<{ name: string; packages: readonly BinhostPackage[] }> = [];
  binreposConf(name: string): Promise<string> {
    this.confs.push(name);
    return Promise.resolve(`[${name}]\npriority = 10\nsync-uri = http://farm.test/binhost/${name}\n`);
  }
  publish(name: string, packages: readonly BinhostPackage[]): Promise<void> {
    this.published.push({ name, packages });
    return Promise.resolve();
  }
}

/** Debian's files the stages here do not use: left out so that packing and the seed's xz are quick. */
const UNUSED = [
  "usr/share",
  "var/cache",
  "var/lib/apt",
  "var/lib/dpkg",
  "usr/lib/x86_64-linux-gnu/perl-base",
  "usr/lib/x86_64-linux-gnu/gconv",
];

void describe("the shipped gentoo-bootstrap stages in a real chroot", { timeout: 900_000 }, () => {
  let dir: string;
  let store: FsArtifactStore;
  /**
   * One workspace and root for both tests (unpacking the Debian root is the slow part): the
   * live-bootstrap root of the first test becomes the "new system" of the second, whose
   * portage config it clears first.
   */
  let ws: { ctx: RunnerContext; output: () => string; rootfs: string };
  const as = (stage: ResolvedStage): RunnerContext => ({ ...ws.ctx, stage });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-emerge-bootstrap-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    const archive = (await debootstrapCache()).archive;
    const c = await emergeContext(dir, await shipped("portage-setup"), store, { jobs: 4 });
    const rootfs = join(c.ctx.workspace, "rootfs");
    await unpackFile(archive, rootfs);
    for (const d of UNUSED) await rm(join(rootfs, d), { recursive: true, force: true });
    await installExecutable(rootfs, "usr/bin/emerge", { file: EMERGE_DOUBLE });
    ws = { ...c, rootfs };
  });
  after(async () => {
    assert.deepEqual(await hostMountsUnder(dir), []);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void test("portage-setup and local-deps: FETCHCOMMAND reaches portage, the first emerge is serial, SOURCE_DATE_EPOCH=0", async () => {
    const { ctx, output, rootfs } = ws;
    // The live-bootstrap root in small: /steps/env, curl (live-bootstrap builds it, not wget),
    // bzip2, the repository's base make.defaults, and the portage tarball in the stage's input.
    assert.equal(
      await exists(join(rootfs, "usr/bin/wget")),
      false,
      "the root has no wget, as live-bootstrap",
    );
    await mkdir(join(rootfs, "steps"), { recursive: true });
    await writeFile(join(rootfs, "steps/env"), "# live-bootstrap's /steps/env (a stand-in)\n");
    await installExecutable(rootfs, "usr/bin/curl", { text: "#!/bin/sh\necho 'curl (a stand-in)'\n" });
    await installExecutable(rootfs, "usr/bin/bzip2", { text: "#!/bin/sh\nexit 0\n" });
    await mkdir(join(rootfs, "var/cache/distfiles"), { recursive: true });
    await mkdir(join(rootfs, "var/db/repos/gentoo/profiles/base"), { recursive: true });
    await writeFile(
      join(rootfs, "var/db/repos/gentoo/profiles/base/make.defaults"),
      'ARCH="amd64"\nPYTHON_TARGETS="python3_12"\nPYTHON_SINGLE_TARGET="python3_12"\n',
    );
    const src = join(ctx.workspace, "portage-src/portage-3.0.66.1");
    await installExecutable(src, "bin/emerge", { file: EMERGE_DOUBLE });
    await mkdir(join(src, "cnf"), { recursive: true });
    await writeFile(join(src, "cnf/make.globals"), MAKE_GLOBALS);
    await mkdir(join(ctx.workspace, "in"));
    // a plain tar under the .tar.bz2 name: GNU tar reads it by its content (the root has no bzip2)
    await execFileAsync("tar", [
      "-C",
      join(ctx.workspace, "portage-src"),
      "-cf",
      join(ctx.workspace, "in/portage-3.0.66.1.tar.bz2"),
      "portage-3.0.66.1",
    ]);

    await createChrootRunner({ killGraceMs: 300 })
      .run(ctx)
      .catch((err: unknown) => {
        throw new Error(`portage-setup failed; its log:\n${output()}`, { cause: err });
      });
    const defaults = await readFile(join(rootfs, "etc/portage/make.profile/make.defaults"), "utf8");
    assert.match(defaults, /^FETCHCOMMAND="curl -k --retry 3 /m);
    assert.doesNotMatch(defaults, /FETCCOMMAND/);
    assert.match(defaults, /^CHOST="i386-unknown-linux-musl"$/m, "the triplet of live-bootstrap 1.0");
    assert.match(defaults, /\nPYTHON_TARGETS="python3_12"\nPYTHON_SINGLE_TARGET="python3_12"\n$/);

    const localDeps = await shipped("local-deps");
    const runner = createEmergeRunner({ loadAverage: 3, killGraceMs: 300 });
    await runner.run(as(localDeps)).catch((err: unknown) => {
      throw new Error(`local-deps failed; its log:\n${output()}`, { cause: err });
    });
    const text = output();
    assert.match(
      text,
      /^emerge-double: would fetch lzip-1\.0\.tar\.gz into \/var\/cache\/distfiles with curl$/m,
    );
    // The first emerge: make replaces make, serially (--jobs=1 after the slots' --jobs=2).
    for (const pn of ["lzip", "make"]) {
      const r = await record(rootfs, pn);
      assert.equal(r["jobs"], "1", pn);
      assert.equal(r["makeopts"], "-j1", pn);
      assert.equal(r["args"], "--jobs=2 --load-average=3 --jobs=1 -D1n app-arch/lzip dev-build/make");
      assert.equal(r["source_date_epoch"], "0", "live-bootstrap's /steps/env value");
    }
    const portage = await record(rootfs, "portage");
    assert.equal(portage["jobs"], "2", "later emerges run the slots' jobs");
    assert.equal(portage["source_date_epoch"], "0");
    assert.equal((await record(rootfs, "rsync"))["cpv"], "net-misc/rsync-1.0");

    // The procedure's spelling, FETCCOMMAND: portage falls back to make.globals' wget, which the
    // root does not have, and the first emerge fails as emerge does.
    const profile = join(rootfs, "etc/portage/make.profile/make.defaults");
    await writeFile(profile, defaults.replace(/^FETCHCOMMAND=/m, "FETCCOMMAND="));
    const err = await runner.run(as(localDeps)).then(
      () => assert.fail("expected local-deps to fail with the procedure's FETCCOMMAND"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "stage_failed");
    assert.match(err.message, /emerge invocation 1\/5 \(\.\/portage\/bin\/emerge .*app-arch\/lzip/);
    assert.match(String(err.details["logTail"]), /wget is not on PATH/);
    assert.match(String(err.details["logTail"]), /!!! Couldn't download 'lzip-1\.0\.tar\.gz'\. Aborting\./);
  });

  void test("world, rust, seed: publish-only by default, the procedure's make.conf after @world, a seed without farm config or the agent's resolv.conf", async () => {
    const { output, rootfs } = ws;
    await rm(join(rootfs, "etc/portage"), { recursive: true, force: true });
    await copyFile("/usr/bin/xz", join(rootfs, "usr/bin/xz"));
    await chmod(join(rootfs, "usr/bin/xz"), 0o755);
    // The root's own resolv.conf (cross-system writes it from the nameserver param); the
    // agent's differs from it, so a leak is seen.
    const own = "nameserver 192.0.2.53\n";
    await rm(join(rootfs, "etc/resolv.conf"), { force: true });
    await writeFile(join(rootfs, "etc/resolv.conf"), own);
    const hostResolv = await readFile("/etc/resolv.conf", "utf8");
    assert.notEqual(hostResolv, own);

    const fake = new FakeBinhost();
    const runner = createEmergeRunner({ loadAverage: 3, killGraceMs: 300, binhost: fake });
    const stanza = join(rootfs, "etc/portage/binrepos.conf/stagefarm-gentoo-bootstrap.conf");

    // Default params: build from source, publish only.
    const start = output().length;
    await runner.run(as(await shipped("world"))).catch((err: unknown) => {
      throw new Error(`world failed; its log:\n${output()}`, { cause: err });
    });
    let text = output().slice(start);
    assert.deepEqual(fake.confs, [], "no binrepos.conf asked for");
    assert.doesNotMatch(text, /--getbinpkg/);
    assert.match(text, /^emerge-double: buildpkg=yes oneshot=no getbinpkg=no /m);
    assert.match(
      text,
      /^publishing what this stage builds to binhost "gentoo-bootstrap" \(FEATURES=buildpkg\)$/m,
    );
    assert.equal(await exists(stanza), false);

    // use_farm_binhost=true: --getbinpkg with the farm's stanza, which is gone afterwards.
    const before = text.length;
    await runner.run(as(await shipped("world", { use_farm_binhost: "true" })));
    text = output().slice(before);
    assert.deepEqual(fake.confs, ["gentoo-bootstrap"]);
    assert.match(text, /^>>> emerge 1\/2: .* --getbinpkg --jobs=2 --load-average=3 -uDN @world$/m);
    assert.match(
      text,
      /^emerge-double: binrepos\.conf: binrepos\.conf\/stagefarm-gentoo-bootstrap\.conf sync-uri=http:\/\/farm\.test/m,
    );
    assert.match(text, /^removed \/etc\/portage\/binrepos\.conf\/stagefarm-gentoo-bootstrap\.conf$/m);
    assert.equal(await exists(stanza), false);

    // rust: the procedure's make.conf is written first, and its EMERGE_DEFAULT_OPTS applies.
    await runner.run(as(await shipped("rust"))).catch((err: unknown) => {
      throw new Error(`rust failed; its log:\n${output()}`, { cause: err });
    });
    assert.equal(
      await readFile(join(rootfs, "etc/portage/make.conf"), "utf8"),
      'MAKEOPTS="--jobs 12 --load-average 14"\nEMERGE_DEFAULT_OPTS="--jobs 6 --load-average 14.0 --usepkg"\nFEATURES="buildpkg binpkg-multi-instance"\n',
    );
    const rust = await record(rootfs, "rust");
    assert.equal(rust["emerge_default_opts"], "--jobs 6 --load-average 14.0 --usepkg");
    assert.equal(rust["usepkg"], "yes");
    assert.equal(rust["jobs"], "2", "the slots' jobs, after make.conf's on the command line");
    assert.equal(rust["makeopts"], "-j4 -l3");
    assert.equal(rust["features"], "binpkg-multi-instance buildpkg");
    assert.doesNotMatch(rust["args"] ?? "", /getbinpkg/);
    assert.deepEqual(
      fake.published.map((p) => p.packages.map((k) => k.relpath.replace(/-\d+\.gpkg\.tar$/, ""))),
      [["dev-lang/rust/rust-1.0"]],
    );

    // seed: a stanza left by anything else is not packed, nor is the agent's resolv.conf.
    await writeFile(join(rootfs, "etc/portage/binrepos.conf/stagefarm-leftover.conf"), "[leftover]\n");
    const seedStage = await shipped("seed");
    const fastXz = (s: ResolvedStage): ResolvedStage => ({ ...s, env: { ...s.env, XZ_OPT: "-0 -T0" } });
    const seed = join(rootfs, "var/tmp/stage3-bootstrap.tar.xz");
    const packed = async (stage: ResolvedStage): Promise<{ names: string[]; resolv: string }> => {
      await createChrootRunner({ killGraceMs: 300 })
        .run(as(fastXz(stage)))
        .catch((err: unknown) => {
          throw new Error(`seed failed; its log:\n${output()}`, { cause: err });
        });
      const list = await execFileAsync("tar", ["-tJf", seed], { maxBuffer: 64 << 20 });
      const resolv = await execFileAsync("tar", ["-xJOf", seed, "./etc/resolv.conf"]);
      return { names: list.stdout.split("\n"), resolv: resolv.stdout };
    };
    const good = await packed(seedStage);
    assert.ok(good.names.includes("./etc/portage/make.conf"));
    assert.ok(good.names.includes("./etc/portage/binrepos.conf/"));
    assert.deepEqual(
      good.names.filter((n) => n.includes("stagefarm-")),
      [],
    );
    assert.equal(good.resolv, own, "the root's own resolv.conf, not the agent's");
    assert.ok(!good.names.some((n) => n.startsWith("./var/tmp/")), "the procedure's excludes");

    // The check can fail: with the agent's resolv.conf bound over the root's (the chroot
    // runner's default), GNU tar's --one-file-system still packs the bound file. (The same
    // command over ./etc only, to keep this quick.)
    const script = seedStage.script?.replace(
      "stage3-bootstrap.tar.xz .\n",
      "stage3-bootstrap.tar.xz ./etc\n",
    );
    assert.ok(script !== undefined && script !== seedStage.script, "the seed packs the root as `.`");
    const leaky = await packed({ ...seedStage, script, with: { ...seedStage.with, resolv_conf: "host" } });
    assert.equal(leaky.resolv, hostResolv);
    assert.ok(leaky.names.includes("./etc/portage/make.conf"));
  });
});
