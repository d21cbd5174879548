/**
 * The catalyst runner end to end through the stage executor, with the catalyst double
 * (test/doubles/catalyst-double.ts) in place of Catalyst, the real releng fixture, a real
 * store and real tarballs: stage1 from a bootstrap seed, stage3 from that stage1's image,
 * installcd-stage1 → installcd-stage2-minimal producing an ISO; and the failures (missing seed,
 * an edit that no longer applies, an unknown placeholder, a failing catalyst, a version
 * mismatch). Also the double's own refusals, which mirror Catalyst's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { StageExecutor } from "../../agent/executor.js";
import { createCatalystRunner } from "../../agent/runners/catalyst.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob, StageResult } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { packTree, unpackBlob } from "../../shared/pack/index.js";
import type { ArtifactRef, InputSpec, OutputSpec, ResolvedStage } from "../../shared/pipeline/types.js";
import { FsArtifactStore } from "../../shared/store/fs-store.js";
import { RELENG_FIXTURE } from "../helpers/catalyst-releng.js";

const execFileAsync = promisify(execFile);
const DOUBLE = join(dirname(fileURLToPath(import.meta.url)), "../doubles/catalyst-double.js");
const pos = { file: "pipeline.yaml", line: 1, col: 1 };

const T = "20250612T101500Z";
const TREE = "d55448fdd9e8e82386e9b121e4b637b03e59a0f8";
const SPECS = "releases/specs/amd64";

/** The procedure's edits to releng, in the form that applies to the fixture's commit. */
const STAGE_EDITS = [
  {
    file: "releases/portage/stages/package.mask/releng/rust",
    replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
  },
  { file: "releases/portage/stages/profile/packages.build", content: "dev-lang/rust\n" },
  {
    file: "releases/portage/stages/package.use/releng/circular",
    replace_line: [
      { match: "^net-misc/curl\\s", with: "net-misc/curl http2 ssl openssl curl_ssl_openssl" },
      { match: "^dev-python/pillow\\s", with: "dev-python/pillow -truetype" },
    ],
  },
];
const ISO_EDITS = [
  { file: "releases/portage/isos/package.accept_keywords/admincd-packages", append: "net-libs/mbedtls" },
  {
    file: "releases/portage/isos/package.mask/releng/rust",
    replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
  },
];

const stageInput = (name: string, path: string): InputSpec => ({
  t: "stage",
  name,
  stage: "sources",
  output: name,
  path,
  unpack: true,
  pos,
});
const output = (name: string, path: string): OutputSpec => ({ name, path, exclude: [], pos });

function catalystStage(name: string, w: Record<string, unknown>, image = "image.tar.xz"): ResolvedStage {
  return {
    pipeline: "catalyst-release",
    name,
    runner: "catalyst",
    requires: ["catalyst"],
    inputs: [
      stageInput("releng", "releng"),
      stageInput("seed", "seed/seed.tar.xz"),
      stageInput("snapshot", "snapshot/gentoo.sqfs"),
    ],
    outputs: [output("build", "build"), output("image", image)],
    env: {},
    sources: [],
    with: { seed: "seed/seed.tar.xz", snapshot: "snapshot/gentoo.sqfs", treeish: TREE, timestamp: T, ...w },
    timeoutMs: 120_000,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
  };
}

void describe("catalyst runner with the catalyst double", () => {
  let dir: string;
  let store: FsArtifactStore;
  let releng: ArtifactRef;
  let bootstrapSeed: ArtifactRef;
  let snapshot: ArtifactRef;
  let runs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-catalyst-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    const relengBlob = await packTree(RELENG_FIXTURE, store, {});
    releng = { digest: relengBlob.digest, size: relengBlob.size, kind: "tree" };
    const root = join(dir, "seed-root");
    await mkdir(join(root, "etc"), { recursive: true });
    await writeFile(join(root, "etc/os-release"), "NAME=bootstrap\n");
    await execFileAsync("tar", ["-cJf", join(dir, "stage3-bootstrap.tar.xz"), "-C", root, "."]);
    const seedBlob = await store.putBlobFile(join(dir, "stage3-bootstrap.tar.xz"));
    bootstrapSeed = { digest: seedBlob.digest, size: seedBlob.size, kind: "file" };
    await writeFile(join(dir, "gentoo.sqfs"), Buffer.concat([Buffer.from("hsqs"), Buffer.alloc(1020)]));
    const snapBlob = await store.putBlobFile(join(dir, "gentoo.sqfs"));
    snapshot = { digest: snapBlob.digest, size: snapBlob.size, kind: "file" };
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function executor(extraArgs: string[] = []): StageExecutor {
    const runner = createCatalystRunner({
      catalystCommand: [process.execPath, DOUBLE, ...extraArgs],
      killGraceMs: 200,
    });
    return new StageExecutor({
      store,
      workRoot: join(dir, "work"),
      logger: silentLogger(),
      runners: [runner],
    });
  }

  async function run(
    s: ResolvedStage,
    seed: ArtifactRef = bootstrapSeed,
    extraArgs: string[] = [],
    opts: { signal?: AbortSignal; onLog?: (chunk: string) => void } = {},
  ): Promise<{ result: StageResult; log: string }> {
    const job: StageJob = {
      runId: `run${++runs}`,
      stage: s,
      key: sha256(`key${runs}`),
      inputs: { releng, seed, snapshot },
      attempt: 1,
    };
    const signal = opts.signal ?? new AbortController().signal;
    const result = await executor(extraArgs).execute(job, { signal, jobs: 3, onLog: opts.onLog });
    return { result, log: await text(await store.getLog(result.logPath)) };
  }

  async function failure(
    s: ResolvedStage,
    extraArgs: string[] = [],
    opts: { seed?: ArtifactRef; signal?: AbortSignal; onLog?: (chunk: string) => void } = {},
  ): Promise<{ e: StagefarmError; log: string }> {
    const e = await run(s, opts.seed ?? bootstrapSeed, extraArgs, opts).then(
      () => assert.fail("expected the stage to fail"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof StagefarmError, String(e));
    assert.deepEqual(await readdir(join(dir, "work")), [], "the workspace is removed");
    return { e, log: await text(await store.getLog(String(e.details["logPath"]))) };
  }

  async function unpackTree(digest: Digest, name: string): Promise<string> {
    const dest = join(dir, "check", name);
    await unpackBlob(store, digest, dest, { allowDevices: false });
    return dest;
  }

  async function unpackImage(ref: ArtifactRef | undefined, name: string): Promise<string> {
    assert.ok(ref);
    const file = join(dir, "check", `${name}.tar.xz`);
    await mkdir(join(dir, "check", name), { recursive: true });
    await store.getBlobToFile(ref.digest, file);
    await execFileAsync("tar", ["-xJf", file, "-C", join(dir, "check", name)]);
    return join(dir, "check", name);
  }

  const imageRef = (r: StageResult): ArtifactRef => {
    const o = r.outputs["image"];
    assert.ok(o, "an image output");
    return { digest: o.digest, size: o.size, kind: o.kind };
  };

  let stage1Image: ArtifactRef;
  let livecd1Image: ArtifactRef;

  void test("stage1 from the bootstrap seed, with the procedure's releng edits", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      releng_edits: STAGE_EDITS,
      overrides: { source_subpath: "default/stage3-bootstrap" },
      catalyst_version: "4.1.0",
    });
    const { result, log } = await run(s);
    stage1Image = imageRef(result);
    const base = `stage1-amd64-systemd-${T}`;

    const build = await unpackTree(result.outputs["build"]?.digest ?? "", "stage1-build");
    assert.deepEqual((await readdir(build)).sort(), [
      `${base}.tar.xz`,
      `${base}.tar.xz.CONTENTS.gz`,
      `${base}.tar.xz.DIGESTS`,
      `${base}.tar.xz.sha256`,
    ]);
    const image = await readFile(join(build, `${base}.tar.xz`));
    assert.equal(sha256(image), stage1Image.digest, "image.tar.xz is the built tarball");
    assert.equal(
      await readFile(join(build, `${base}.tar.xz.sha256`), "utf8"),
      `# SHA256 HASH\n${stage1Image.digest}  ${base}.tar.xz\n`,
    );
    const digests = await readFile(join(build, `${base}.tar.xz.DIGESTS`), "utf8");
    assert.match(
      digests,
      /^# BLAKE2B HASH\n[0-9a-f]{128} {2}stage1-amd64-systemd-.*\.tar\.xz\n# SHA512 HASH\n/,
    );
    assert.match(digests, /\.tar\.xz\.CONTENTS\.gz\n$/);
    const contents = gunzipSync(await readFile(join(build, `${base}.tar.xz.CONTENTS.gz`))).toString();
    assert.match(contents, /\.\/etc\/os-release/);

    const root = await unpackImage(stage1Image, "stage1");
    assert.equal(
      await readFile(join(root, "etc/os-release"), "utf8"),
      "NAME=bootstrap\n",
      "built from the seed",
    );
    const record = await readFile(join(root, "etc/catalyst-double/stage1"), "utf8");
    assert.match(record, /^source_subpath: default\/stage3-bootstrap$/m);
    assert.match(record, new RegExp(`^version_stamp: systemd-${T}$`, "m"));
    assert.match(record, new RegExp(`^snapshot_treeish: ${TREE}$`, "m"));
    // portage_confdir (the edited releng checkout) reached the build.
    assert.match(
      await readFile(join(root, "etc/portage/package.mask/releng/rust"), "utf8"),
      /^dev-lang\/rust-bin$/m,
    );
    assert.equal(await readFile(join(root, "etc/portage/profile/packages.build"), "utf8"), "dev-lang/rust\n");
    assert.match(
      await readFile(join(root, "etc/portage/package.use/releng/circular"), "utf8"),
      /^net-misc\/curl http2 ssl openssl curl_ssl_openssl$/m,
    );

    const pkgs = Object.keys(result.outputs)
      .filter((k) => k.startsWith("binpkg:"))
      .sort();
    assert.deepEqual(pkgs, [
      "binpkg:app-misc/double-hello/double-hello-1.0-1.gpkg.tar",
      "binpkg:sys-apps/baselayout/baselayout-2.17-1.gpkg.tar",
    ]);
    const index = await text(await store.getBlob(result.outputs["binpkgs.index"]?.digest ?? ""));
    assert.match(index, /^CPV: sys-apps\/baselayout-2.17$/m);

    assert.match(log, /^>>> catalyst: catalyst 4\.1\.0 \(as required\)$/m);
    assert.match(
      log,
      /^>>> catalyst: releng edit 1: releases\/portage\/stages\/package\.mask\/releng\/rust: replaced 1 line\(s\)$/m,
    );
    assert.match(
      log,
      /^>>> catalyst: releng edit 2: releases\/portage\/stages\/profile\/packages\.build: created/m,
    );
    assert.match(
      log,
      /^>>> catalyst: catalyst\.conf: storedir forced to ".*\/\.stagefarm\/catalyst\/store"$/m,
    );
    assert.match(log, /^source_subpath: default\/stage3-bootstrap$/m, "the rendered spec is logged");
    assert.match(log, new RegExp(`^portage_confdir: /.*/releng/releases/portage/stages$`, "m"));
    assert.match(
      log,
      /^>>> catalyst: seed seed\/seed\.tar\.xz placed at storedir\/builds\/default\/stage3-bootstrap\.tar\.xz$/m,
    );
    assert.match(
      log,
      new RegExp(
        `^>>> catalyst: snapshot snapshot/gentoo.sqfs placed at storedir/snapshots/gentoo-${TREE}.sqfs$`,
        "m",
      ),
    );
    assert.match(log, /Catalyst \(double\) completed successfully/);
  });

  void test("stage3 from the stage1 image (source_subpath as the releng spec has it)", async () => {
    assert.ok(stage1Image, "stage1 ran first");
    const s = catalystStage("stage3", { spec: `${SPECS}/stage3-systemd-23.spec`, releng_edits: STAGE_EDITS });
    const { result, log } = await run(s, stage1Image);
    assert.match(
      log,
      new RegExp(`placed at storedir/builds/23.0-default/stage1-amd64-systemd-${T}.tar.xz$`, "m"),
    );
    const build = await unpackTree(result.outputs["build"]?.digest ?? "", "stage3-build");
    assert.ok((await readdir(build)).includes(`stage3-amd64-systemd-${T}.tar.xz`));
    assert.ok(
      !(await readdir(build)).some((f) => f.startsWith("stage1-")),
      "the placed seed is not collected",
    );
    const root = await unpackImage(imageRef(result), "stage3");
    assert.match(await readFile(join(root, "etc/catalyst-double/stage1"), "utf8"), /^target: stage1$/m);
    assert.match(await readFile(join(root, "etc/catalyst-double/stage3"), "utf8"), /^target: stage3$/m);
    assert.equal(await readFile(join(root, "etc/os-release"), "utf8"), "NAME=bootstrap\n");
  });

  void test("installcd-stage1 from the bootstrap seed", async () => {
    const s = catalystStage("installcd-stage1", {
      spec: `${SPECS}/installcd-stage1.spec`,
      releng_edits: ISO_EDITS,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { result } = await run(s);
    livecd1Image = imageRef(result);
    const build = await unpackTree(result.outputs["build"]?.digest ?? "", "livecd1-build");
    assert.ok((await readdir(build)).includes(`livecd-stage1-amd64-${T}.tar.xz`));
    assert.ok(
      result.outputs["binpkg:app-accessibility/brltty/brltty-1.0-1.gpkg.tar"],
      "pkgcache of livecd-stage1",
    );
    const root = await unpackImage(livecd1Image, "livecd1");
    assert.match(
      await readFile(join(root, "etc/portage/package.accept_keywords/admincd-packages"), "utf8"),
      /\nnet-libs\/mbedtls\n$/,
    );
  });

  void test("installcd-stage2-minimal from installcd-stage1 writes the ISO", async () => {
    assert.ok(livecd1Image, "installcd-stage1 ran first");
    const s = catalystStage(
      "installcd-stage2",
      { spec: `${SPECS}/installcd-stage2-minimal.spec`, releng_edits: ISO_EDITS },
      "image.iso",
    );
    const { result, log } = await run(s, livecd1Image);
    const iso = `install-amd64-minimal-${T}.iso`;
    const build = await unpackTree(result.outputs["build"]?.digest ?? "", "livecd2-build");
    assert.deepEqual((await readdir(build)).sort(), [
      iso,
      `${iso}.CONTENTS.gz`,
      `${iso}.DIGESTS`,
      `${iso}.sha256`,
      `livecd-stage2-amd64-${T}.tar.bz2`,
      `livecd-stage2-amd64-${T}.tar.bz2.CONTENTS.gz`,
      `livecd-stage2-amd64-${T}.tar.bz2.DIGESTS`,
      `livecd-stage2-amd64-${T}.tar.bz2.sha256`,
    ]);
    const image = result.outputs["image"];
    assert.equal(image?.digest, sha256(await readFile(join(build, iso))), "image.iso is the ISO");
    const bytes = await readFile(join(build, iso));
    assert.equal(bytes.subarray(0x8001, 0x8006).toString("latin1"), "CD001");
    assert.match(
      bytes.subarray(0x8028, 0x8048).toString("latin1"),
      /Gentoo-amd64-20250612/,
      "DATESTAMP reached the volume id",
    );
    assert.match(log, /^>>> catalyst: primary artifact install-amd64-minimal-.*\.iso is image\.iso$/m);
  });

  void test("a missing seed: with.seed unset while the spec needs one", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, seed: undefined });
    const { e } = await failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /^stage "stage1": missing seed: the spec's source_subpath is "23\.0-default\/stage3-amd64-systemd-latest" but with\.seed is not set/,
    );
  });

  void test("a missing seed: with.seed names no file", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, seed: "seed/other.tar.xz" });
    const { e } = await failure(s);
    assert.match(
      e.message,
      /^stage "stage1": missing seed: with\.seed "seed\/other\.tar\.xz" is not a file in the workspace/,
    );
  });

  void test("a releng edit that no longer applies fails before catalyst runs", async () => {
    const file = "releases/portage/stages/package.mask/releng/rust";
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      releng_edits: [STAGE_EDITS[1], { file, replace: [{ from: "dev-lang/rust-bin", to: "dev-lang/rust" }] }],
    });
    const { e, log } = await failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.equal(
      e.message,
      `stage "stage1" releng edit 2 (${file}): edit no longer applies: replace[0]: text not found: "dev-lang/rust-bin"`,
    );
    assert.doesNotMatch(log, /running .*catalyst-double/);
  });

  void test("an unknown placeholder in the (edited) template names file:line:col", async () => {
    const spec = `${SPECS}/stage1-systemd-23.spec`;
    const s = catalystStage("stage1", {
      spec,
      releng_edits: [{ file: spec, append: "livecd/volid: Gentoo-@ARCH@-@DATESTAMP@" }],
    });
    const { e } = await failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(e.message, new RegExp(`^releng/${spec}:13:22: unknown placeholder @ARCH@\n`));
  });

  void test("a failing catalyst fails the stage naming its status and last lines", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { e, log } = await failure(s, ["--double-fail", "emerge failed for sys-libs/glibc-2.41"]);
    assert.equal(e.code, "stage_failed");
    assert.match(e.message, /^stage "stage1" failed: catalyst exited with status 1; its last lines:\n/);
    assert.match(e.message, /!!! emerge failed for sys-libs\/glibc-2\.41/);
    assert.equal(e.details["exitCode"], 1);
    assert.match(String(e.details["logTail"]), /build aborted due to error/);
    assert.match(log, /stage failed \(stage_failed\)/);
  });

  void test("cancelling a running catalyst kills it and removes the workspace", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const controller = new AbortController();
    let live = "";
    const onLog = (chunk: string): void => {
      live += chunk;
      if (live.includes("Running action sequence")) controller.abort();
    };
    const { e, log } = await failure(s, ["--double-sleep-ms", "60000"], { signal: controller.signal, onLog });
    assert.equal(e.code, "cancelled");
    assert.match(log, /Running action sequence/);
    assert.doesNotMatch(log, /completed successfully/);
  });

  void test("a spec setting pkgcache_path is refused", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap", pkgcache_path: "/var/cache/shared" },
    });
    const { e } = await failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /sets pkgcache_path; the catalyst runner keeps the package cache in its own storedir/,
    );
  });

  void test("a seed Catalyst cannot unpack (zstd) is refused, recognised by its bytes", async () => {
    await writeFile(join(dir, "seed.zst"), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    const blob = await store.putBlobFile(join(dir, "seed.zst"));
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
      seed: "seed/seed",
    });
    s.inputs = s.inputs.map((i) => (i.name === "seed" ? { ...i, path: "seed/seed" } : i));
    const { e } = await failure(s, [], { seed: { digest: blob.digest, size: blob.size, kind: "file" } });
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /^stage "stage1": the seed seed is zstd-compressed, which Catalyst cannot unpack \(it accepts \.tar\.bz2 /,
    );
  });

  void test("a catalyst version other than the required one is refused before building", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, catalyst_version: "4.1.0" });
    const { e, log } = await failure(s, ["--double-version", "4.0.3"]);
    assert.equal(e.code, "invalid_argument");
    assert.equal(e.message, 'stage "stage1" requires catalyst 4.1.0, but this agent has catalyst 4.0.3');
    assert.doesNotMatch(log, /rendered spec/);
  });
});

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
      DOUBLE,
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
    const r = await execFileAsync(process.execPath, [DOUBLE, "--version"]);
    assert.match(r.stdout, /^Catalyst 4\.1\.0\n/);
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
