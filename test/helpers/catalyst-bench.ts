/**
 * A bench for the catalyst runner end to end through the stage executor, with the catalyst
 * double (test/doubles/catalyst-double.ts) in place of Catalyst: a real store holding the releng
 * fixture at the procedure's commit, a bootstrap seed tarball and a snapshot; the procedure's releng edits; a stage
 * builder; and running a stage to its result (or its failure) with the stored log.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { StageExecutor } from "../../agent/index.js";
import { createCatalystRunner } from "../../agent/runners/catalyst/index.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob, StageResult } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { packTree, unpackBlob } from "../../shared/pack/index.js";
import type { ArtifactRef, InputSpec, OutputSpec, ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { relengFixture } from "./catalyst-releng.js";

const execFileAsync = promisify(execFile);

/** The compiled catalyst double, run with node. */
export const CATALYST_DOUBLE = join(dirname(fileURLToPath(import.meta.url)), "../doubles/catalyst-double.js");
export const TAR2SQFS_DOUBLE = join(dirname(fileURLToPath(import.meta.url)), "../doubles/tar2sqfs-double.js");

/** with.timestamp of every stage. */
export const TIMESTAMP = "20250612T101500Z";
/** with.treeish of every stage. */
export const TREEISH = "d55448fdd9e8e82386e9b121e4b637b03e59a0f8";
/** The amd64 specs in the releng fixture. */
export const SPECS = "releases/specs/amd64";

/** The procedure's edits to releng, in the form that applies to the fixture's commit (87eea8b6). */
export const STAGE_EDITS = [
  {
    file: "releases/portage/stages/package.mask/releng/rust",
    replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
  },
  { file: "releases/portage/stages/profile/packages.build", content: "dev-lang/rust\n" },
  {
    file: "releases/portage/stages/package.use/releng/circular",
    replace_line: [{ match: "^net-misc/curl\\s", with: "net-misc/curl http2 ssl openssl curl_ssl_openssl" }],
  },
  { file: "releases/portage/stages/package.use/releng/circular", append: "dev-python/pillow -truetype" },
];
export const ISO_EDITS = [
  { file: "releases/portage/isos/package.accept_keywords/admincd-packages", append: "net-libs/mbedtls" },
  {
    file: "releases/portage/isos/package.mask/releng/rust",
    replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
  },
];

const pos = { file: "pipeline.yaml", line: 1, col: 1 };

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

/** A catalyst stage taking releng, seed and snapshot, with `w` merged into its `with`. */
export function catalystStage(
  name: string,
  w: Record<string, unknown>,
  image = "image.tar.xz",
): ResolvedStage {
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
    with: {
      seed: "seed/seed.tar.xz",
      snapshot: "snapshot/gentoo.sqfs",
      treeish: TREEISH,
      timestamp: TIMESTAMP,
      ...w,
    },
    timeoutMs: 120_000,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
  };
}

/** The `image` output of a result as an input reference. */
export const imageRef = (r: StageResult): ArtifactRef => {
  const o = r.outputs["image"];
  assert.ok(o, "an image output");
  return { digest: o.digest, size: o.size, kind: o.kind };
};

export class CatalystBench {
  #runs = 0;

  private constructor(
    readonly dir: string,
    readonly store: FsArtifactStore,
    readonly releng: ArtifactRef,
    readonly bootstrapSeed: ArtifactRef,
    readonly snapshot: ArtifactRef,
  ) {}

  /** A temp dir with a store holding the releng fixture, a bootstrap seed and a snapshot. */
  static async create(): Promise<CatalystBench> {
    const dir = await mkdtemp(join(tmpdir(), "sf-catalyst-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    const relengBlob = await packTree(relengFixture("procedure"), store, {});
    const releng: ArtifactRef = { digest: relengBlob.digest, size: relengBlob.size, kind: "tree" };
    const root = join(dir, "seed-root");
    await mkdir(join(root, "etc"), { recursive: true });
    await writeFile(join(root, "etc/os-release"), "NAME=bootstrap\n");
    await execFileAsync("tar", ["-cJf", join(dir, "stage3-bootstrap.tar.xz"), "-C", root, "."]);
    const seedBlob = await store.putBlobFile(join(dir, "stage3-bootstrap.tar.xz"));
    const bootstrapSeed: ArtifactRef = { digest: seedBlob.digest, size: seedBlob.size, kind: "file" };
    await writeFile(join(dir, "gentoo.sqfs"), Buffer.concat([Buffer.from("hsqs"), Buffer.alloc(1020)]));
    const snapBlob = await store.putBlobFile(join(dir, "gentoo.sqfs"));
    const snapshot: ArtifactRef = { digest: snapBlob.digest, size: snapBlob.size, kind: "file" };
    return new CatalystBench(dir, store, releng, bootstrapSeed, snapshot);
  }

  async close(): Promise<void> {
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  executor(extraArgs: string[] = []): StageExecutor {
    const runner = createCatalystRunner({
      catalystCommand: [process.execPath, CATALYST_DOUBLE, ...extraArgs],
      tar2sqfsCommand: [process.execPath, TAR2SQFS_DOUBLE],
      killGraceMs: 200,
    });
    return new StageExecutor({
      store: this.store,
      workRoot: join(this.dir, "work"),
      logger: silentLogger(),
      runners: [runner],
    });
  }

  /** Runs `s` (the double given `extraArgs`) to its result and its stored log. */
  async run(
    s: ResolvedStage,
    seed: ArtifactRef = this.bootstrapSeed,
    extraArgs: string[] = [],
    opts: { signal?: AbortSignal; onLog?: (chunk: string) => void; snapshot?: ArtifactRef } = {},
  ): Promise<{ result: StageResult; log: string }> {
    const runs = ++this.#runs;
    const job: StageJob = {
      runId: `run${runs}`,
      stage: s,
      key: sha256(`key${runs}`),
      inputs: { releng: this.releng, seed, snapshot: opts.snapshot ?? this.snapshot },
      attempt: 1,
    };
    const signal = opts.signal ?? new AbortController().signal;
    const result = await this.executor(extraArgs).execute(job, { signal, jobs: 3, onLog: opts.onLog });
    return { result, log: await text(await this.store.getLog(result.logPath)) };
  }

  /** Runs `s`, which must fail with a StagefarmError and remove its workspace; the error and log. */
  async failure(
    s: ResolvedStage,
    extraArgs: string[] = [],
    opts: {
      seed?: ArtifactRef;
      snapshot?: ArtifactRef;
      signal?: AbortSignal;
      onLog?: (chunk: string) => void;
    } = {},
  ): Promise<{ e: StagefarmError; log: string }> {
    const e = await this.run(s, opts.seed ?? this.bootstrapSeed, extraArgs, opts).then(
      () => assert.fail("expected the stage to fail"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof StagefarmError, String(e));
    assert.deepEqual(await readdir(join(this.dir, "work")), [], "the workspace is removed");
    return { e, log: await text(await this.store.getLog(String(e.details["logPath"]))) };
  }

  /** Unpacks the tree `digest` under check/`name`. */
  async unpackTree(digest: Digest, name: string): Promise<string> {
    const dest = join(this.dir, "check", name);
    await unpackBlob(this.store, digest, dest, { allowDevices: false });
    return dest;
  }

  /** Extracts the image tarball `ref` under check/`name`. */
  async unpackImage(ref: ArtifactRef | undefined, name: string): Promise<string> {
    assert.ok(ref);
    const file = join(this.dir, "check", `${name}.tar.xz`);
    await mkdir(join(this.dir, "check", name), { recursive: true });
    await this.store.getBlobToFile(ref.digest, file);
    await execFileAsync("tar", ["-xJf", file, "-C", join(this.dir, "check", name)]);
    return join(this.dir, "check", name);
  }
}
