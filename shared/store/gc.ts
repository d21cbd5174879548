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
 * Manifests are deleted before blobs, so a manifest is never visible without its blobs. With
 * `dryRun` nothing is changed and the report says what a real run would remove.
 */
import type { Digest } from "../digest.js";
import { throwIfAborted } from "../errors.js";
import { logTimesPath } from "../log-times.js";
import type { ArtifactStore, Manifest } from "./types.js";

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
  if (!opts.dryRun) {
    for (const key of report.manifestsRemoved) {
      throwIfAborted(opts.signal);
      await store.deleteManifest(key);
    }
  }

  const deadBlobs: Array<{ digest: Digest; size: number }> = [];
  for await (const b of store.listBlobs()) {
    throwIfAborted(opts.signal);
    if (!liveBlobs.has(b.digest) && isOlderThan(b.mtime, nowMs, graceMs))
      deadBlobs.push({ digest: b.digest, size: b.size });
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
