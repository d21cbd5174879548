/**
 * Garbage collection of an artifact store, through the port only (so it works on any store).
 *
 * 1. Manifests older than `maxManifestAgeMs` (by `createdAt`) that `keep` does not protect are
 *    removed. Without `maxManifestAgeMs` every manifest stays.
 * 2. Blobs referenced by no remaining manifest are removed, unless younger than `blobGraceMs`
 *    (by mtime): a running stage uploads its blobs before its manifest lands, and they must
 *    survive until it does. A blob whose age the store cannot tell is kept.
 * 3. Logs referenced by no remaining manifest's `log` are removed when older than both
 *    `maxManifestAgeMs` (if given) and `blobGraceMs` (the grace also covers a log written just
 *    before its manifest). Logs of failed attempts are never referenced, so they go this way.
 *
 * Besides the kept manifests, `roots` names what must stay: blob digests (releases and their
 * pointers, outputs of recent runs) and log paths (logs of recent runs' attempts). It is asked
 * once, after the manifests are read and before any blob is listed; a blob uploaded after that
 * is younger than the grace.
 *
 * Manifests are deleted before blobs, so a manifest is never visible without its blobs. With
 * `dryRun` nothing is changed and the report says what a real run would remove.
 */
import type { Digest } from "../digest.js";
import { throwIfAborted } from "../errors.js";
import { logTimesPath } from "../log-times.js";
import type { ArtifactStore, Manifest } from "./types.js";

/** What must stay besides the kept manifests' blobs and logs. */
export interface GcRoots {
  /** sha256 digests of blobs. */
  digests: ReadonlySet<string>;
  /** Store paths of logs (`logs/…`). */
  logs: ReadonlySet<string>;
}

/** A source of extra roots, e.g. a store's releases, or a coordinator's recent runs. */
export type GcRootSource = (signal: AbortSignal | undefined) => Promise<GcRoots>;

export interface GcOptions {
  dryRun: boolean;
  /** Manifests created longer ago than this are removed; absent: manifests are never removed. */
  maxManifestAgeMs?: number;
  /** Unreferenced blobs and logs younger than this are kept. Default 1 hour. */
  blobGraceMs?: number;
  /** The current time (tests). */
  now?: Date;
  /** Returns true for manifests that must stay whatever their age. */
  keep?: (m: Manifest) => boolean;
  /** Extra roots; a failure to read them fails the collection (nothing is removed). */
  roots?: GcRootSource;
  signal?: AbortSignal;
}

export interface GcReport {
  manifestsKept: number;
  /** Cache keys of the manifests removed. */
  manifestsRemoved: string[];
  blobsRemoved: Array<{ digest: Digest; size: number }>;
  /** Total size of the removed blobs. */
  bytesFreed: number;
  /** Store paths of the logs removed. */
  logsRemoved: string[];
  /** Unreferenced blobs (older than the grace) kept only because a root names them. */
  rootsKept: number;
}

export const DEFAULT_BLOB_GRACE_MS = 3_600_000;

function isOlderThan(mtime: Date | undefined, nowMs: number, ageMs: number): boolean {
  return mtime !== undefined && nowMs - mtime.getTime() >= ageMs;
}

export async function collectGarbage(store: ArtifactStore, opts: GcOptions): Promise<GcReport> {
  const nowMs = (opts.now ?? new Date()).getTime();
  const graceMs = opts.blobGraceMs ?? DEFAULT_BLOB_GRACE_MS;
  const report: GcReport = {
    manifestsKept: 0,
    manifestsRemoved: [],
    blobsRemoved: [],
    bytesFreed: 0,
    logsRemoved: [],
    rootsKept: 0,
  };
  const liveBlobs = new Set<Digest>();
  const liveLogs = new Set<string>();

  for await (const m of store.listManifests()) {
    throwIfAborted(opts.signal);
    const expired =
      opts.maxManifestAgeMs !== undefined && nowMs - Date.parse(m.createdAt) > opts.maxManifestAgeMs;
    if (expired && opts.keep?.(m) !== true) {
      report.manifestsRemoved.push(m.key);
      continue;
    }
    report.manifestsKept++;
    for (const out of Object.values(m.outputs)) liveBlobs.add(out.digest);
    // A live log keeps its line-times index (shared/log-times.ts) too.
    if (m.log !== undefined) liveLogs.add(m.log).add(logTimesPath(m.log));
  }
  // Read before anything is removed: roots that cannot be read remove nothing.
  const roots = (await opts.roots?.(opts.signal)) ?? { digests: new Set<string>(), logs: new Set<string>() };
  for (const l of roots.logs) liveLogs.add(l);
  if (!opts.dryRun) {
    for (const key of report.manifestsRemoved) {
      throwIfAborted(opts.signal);
      await store.deleteManifest(key);
    }
  }

  const deadBlobs: Array<{ digest: Digest; size: number }> = [];
  for await (const b of store.listBlobs()) {
    throwIfAborted(opts.signal);
    if (liveBlobs.has(b.digest) || !isOlderThan(b.mtime, nowMs, graceMs)) continue;
    if (roots.digests.has(b.digest)) report.rootsKept++;
    else deadBlobs.push({ digest: b.digest, size: b.size });
  }
  for (const b of deadBlobs) {
    throwIfAborted(opts.signal);
    if (!opts.dryRun) {
      // Stored again since it was listed (a stage reproducing it)? Then it is young again: keep it.
      const now = await store.statBlob(b.digest);
      if (now === undefined || !isOlderThan(now.mtime, nowMs, graceMs)) continue;
      await store.deleteBlob(b.digest);
    }
    report.blobsRemoved.push(b);
    report.bytesFreed += b.size;
  }

  const logAgeMs = Math.max(opts.maxManifestAgeMs ?? 0, graceMs);
  const deadLogs: string[] = [];
  for await (const l of store.listLogs("logs/")) {
    throwIfAborted(opts.signal);
    if (!liveLogs.has(l.path) && isOlderThan(l.mtime, nowMs, logAgeMs)) deadLogs.push(l.path);
  }
  for (const path of deadLogs) {
    throwIfAborted(opts.signal);
    if (!opts.dryRun) await store.deleteLog(path);
    report.logsRemoved.push(path);
  }
  return report;
}

/** One source of the roots of all of `sources` (read concurrently). */
export function combineRoots(sources: readonly GcRootSource[]): GcRootSource {
  return async (signal) => {
    const all = await Promise.all(sources.map((s) => s(signal)));
    return {
      digests: new Set(all.flatMap((r) => [...r.digests])),
      logs: new Set(all.flatMap((r) => [...r.logs])),
    };
  };
}
