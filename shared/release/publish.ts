/**
 * Publishing a release: the one use case behind `stagefarm release` on every transport (the
 * coordinator's PublishRelease over gRPC; a local filesystem store). The caller has resolved
 * which blobs to release (./sources.ts); this writes the mirror tree (./layout.ts) and moves the
 * pointer by compare-and-set:
 *
 *   1. read the pointer: the generation this release found (before waiting for the lock);
 *   2. hold the pointer (./pointer-lock.ts); read it again: when it names another generation
 *      than the one found (or another digest than `expect` says) the release loses with
 *      `conflict` and writes nothing;
 *   3. per file: stream the blob once through the DIGESTS hashes and the lister (CONTENTS.gz),
 *      write the companions (and signatures), then the file's record (what serves the file);
 *   4. write the pointer (the commit point), then `latest-<name>.txt`.
 *
 * A file already released at the same stamp with the same bytes is written again (idempotent);
 * with other bytes it is a conflict, never a replacement.
 */
import { StagefarmError } from "../errors.js";
import type { ArtifactStore } from "../store/index.js";
import { quoted } from "../util/excerpt.js";
import { contentsGz } from "./contents.js";
import { digestSections, DigestsHasher } from "./digests-file.js";
import { latestFileText } from "./latest-file.js";
import {
  assertArch,
  assertStamp,
  filePath,
  latestPath,
  releaseFileName,
  releaseName,
  stampOf,
  type ReleaseExtension,
} from "./layout.js";
import {
  currentOf,
  generationOf,
  readPointer,
  writePointer,
  type Pointer,
  type Promotion,
  type ReleaseSeed,
  type ReleasedFile,
} from "./pointer.js";
import type { PointerLocks } from "./pointer-lock.js";
import { detachSign, type SigningKey } from "./sign.js";
import { readFileRecord, writeFileRecord } from "./file-record.js";

/** One blob to release, resolved from a run's output. */
export interface ReleaseSource {
  stage: string;
  output: string;
  digest: string;
  size: number;
  ext: ReleaseExtension;
}

/** What the pointer must name for the promotion to go ahead. */
export type ReleaseExpectation = { t: "none" } | { t: "digest"; digest: string };

export interface PublishRequest {
  name: string;
  arch: string;
  stamp?: string;
  run: string;
  pipeline: string;
  /** The run's release-resolved inputs (its lineage). */
  seeds: ReleaseSeed[];
  sources: ReleaseSource[];
  expect?: ReleaseExpectation;
  /** Who promotes (a token's name), for the log. */
  by?: string;
}

export interface PublishDeps {
  store: ArtifactStore;
  locks: PointerLocks;
  /** Sign every released file and its DIGESTS with this key. */
  signingKey?: SigningKey;
  now?: () => Date;
  signal?: AbortSignal;
}

function conflict(name: string, why: string, current: Promotion | undefined): StagefarmError {
  const now =
    current === undefined
      ? "it names no release"
      : `it names ${current.digest} (generation ${current.generation}, run ${current.run}, stamp ${current.stamp})`;
  return new StagefarmError(
    "conflict",
    `release pointer ${quoted(name)} moved: ${why}; ${now}. Read it again (stagefarm release log ${name}) and promote again`,
    {
      details: {
        name,
        ...(current === undefined ? {} : { digest: current.digest, generation: current.generation }),
      },
    },
  );
}

function checkExpectation(
  name: string,
  expect: ReleaseExpectation | undefined,
  found: number,
  p: Pointer | undefined,
): void {
  const current = currentOf(p);
  if (expect?.t === "none" && current !== undefined)
    throw conflict(name, "this promotion expected no release", current);
  if (expect?.t === "digest" && current?.digest !== expect.digest)
    throw conflict(name, `this promotion expected ${expect.digest}`, current);
  if (expect === undefined && generationOf(p) !== found)
    throw conflict(
      name,
      `another promotion landed while this one waited (it found generation ${found})`,
      current,
    );
}

async function publishFile(
  deps: PublishDeps,
  arch: string,
  stamp: string,
  file: string,
  src: ReleaseSource,
): Promise<void> {
  const { store, signal } = deps;
  const known = await readFileRecord(store, arch, stamp, file);
  if (known !== undefined && known.digest !== src.digest)
    throw new StagefarmError(
      "conflict",
      `${filePath(arch, stamp, file)} is already released with other bytes (${known.digest}); pick another --stamp`,
    );
  const hasher = new DigestsHasher();
  const body = await store.getBlob(src.digest, signal);
  const contents = await contentsGz(body, src.ext, (c) => hasher.update(c), signal);
  const contentsName = `${file}.CONTENTS.gz`;
  const digests = Buffer.from(hasher.sections(file) + digestSections(contents, contentsName));
  const opts = signal === undefined ? {} : { signal };
  await store.putObject(filePath(arch, stamp, contentsName), contents, opts);
  await store.putObject(filePath(arch, stamp, `${file}.DIGESTS`), digests, opts);
  if (deps.signingKey !== undefined) {
    const key = deps.signingKey;
    await store.putObject(
      filePath(arch, stamp, `${file}.DIGESTS.asc`),
      await detachSign(key, digests, signal),
      opts,
    );
    await store.putObject(
      filePath(arch, stamp, `${contentsName}.asc`),
      await detachSign(key, contents, signal),
      opts,
    );
    const sig = await detachSign(key, await store.getBlob(src.digest, signal), signal);
    await store.putObject(filePath(arch, stamp, `${file}.asc`), sig, opts);
  }
  await writeFileRecord(store, arch, stamp, file, { digest: src.digest, size: src.size }, signal);
}

export async function publishRelease(deps: PublishDeps, req: PublishRequest): Promise<Promotion> {
  const name = releaseName(req.name);
  const arch = assertArch(req.arch);
  const at = (deps.now ?? (() => new Date()))();
  const stamp = assertStamp(req.stamp ?? stampOf(at));
  if (req.sources.length === 0)
    throw new StagefarmError("invalid_argument", "a release needs at least one output");
  const files: ReleasedFile[] = req.sources.map((s) => ({
    file: releaseFileName(name, stamp, s.ext),
    digest: s.digest,
    size: s.size,
    stage: s.stage,
    output: s.output,
  }));
  const names = new Set(files.map((f) => f.file));
  if (names.size !== files.length)
    throw new StagefarmError(
      "invalid_argument",
      `two outputs would be released as the same file (${[...names].join(", ")}): release them under different names`,
    );
  const found = generationOf(await readPointer(deps.store, name, deps.signal));
  return deps.locks.with(
    deps.store,
    name,
    async () => {
      const before = await readPointer(deps.store, name, deps.signal);
      checkExpectation(name, req.expect, found, before);
      const current = currentOf(before);
      if (current !== undefined && current.arch !== arch)
        throw new StagefarmError(
          "invalid_argument",
          `release ${quoted(name)} is released for ${current.arch}, not ${arch}`,
        );
      for (const [i, src] of req.sources.entries())
        await publishFile(deps, arch, stamp, files[i]?.file ?? "", src);
      const promotion: Promotion = {
        generation: generationOf(before) + 1,
        arch,
        stamp,
        digest: files[0]?.digest ?? "",
        files,
        run: req.run,
        pipeline: req.pipeline,
        seeds: req.seeds,
        at: at.toISOString(),
        ...(req.by === undefined ? {} : { by: req.by }),
        ...(deps.signingKey === undefined ? {} : { signedBy: deps.signingKey.keyId }),
      };
      await writePointer(
        deps.store,
        { v: 1, name, history: [...(before?.history ?? []), promotion] },
        deps.signal,
      );
      await deps.store.putObject(
        latestPath(arch, name),
        latestFileText(
          at,
          files.map((f) => ({ stamp, file: f.file, size: f.size })),
        ),
        deps.signal === undefined ? {} : { signal: deps.signal },
      );
      return promotion;
    },
    deps.signal,
  );
}
