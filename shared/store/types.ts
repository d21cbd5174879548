/**
 * The artifact store port. Two implementations share one conformance suite
 * (test/conformance/artifact-store.ts): the filesystem store (embedded mode) and, later, S3.
 *
 * Layout, the same on disk and in S3 (keys relative to the store root):
 *   cas/sha256/<2 hex>/<digest>   immutable blobs, addressed by the sha256 of their bytes
 *   ac/<cache-key>.json           action-cache manifests, written last and only if absent
 *   logs/<path>                   stage logs (plain text)
 *   binhost/<name>/…              portage binhosts: plain objects (packages, Packages, Packages.gz)
 *
 * Invariants
 * - A blob is visible only once complete and verified (temp + rename / single PUT).
 * - A manifest is never visible before all the blobs it references (putManifest checks).
 * - Every read is verified against its digest; a mismatch throws `corrupt_artifact` and the
 *   bytes are never handed on as good.
 * - Objects (`binhost/…`) are plain files at their paths, replaced atomically: a reader sees the
 *   old bytes or the new ones, never a mix or a partial object.
 */
import type { Readable } from "node:stream";
import type { Digest } from "../digest.js";
import type { OutputKind } from "../pipeline/index.js";
import type { HeldLock } from "./fs-lock.js";

export type { HeldLock };

export interface BlobInfo {
  digest: Digest;
  size: number;
  /** When the blob was last written (statBlob/listBlobs fill it; garbage collection uses it as the
   *  blob's age, so a blob that was just stored is not collected before its manifest lands). */
  mtime?: Date;
}

/** Bytes `[start, end)` of a log; `end` defaults to its end. Past the end reads nothing. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface LogInfo {
  /** Store path, `logs/…`. */
  path: string;
  size: number;
  /** When the log was written, if the store knows (garbage collection uses it as the log's age). */
  mtime?: Date;
}

export interface ManifestOutput {
  digest: Digest;
  size: number;
  kind: OutputKind;
}

/** Action-cache record: a cache key → the outputs a successful stage produced. */
export interface Manifest {
  /** Format version of this record. */
  v: 1;
  key: Digest;
  pipeline: string;
  stage: string;
  runner: string;
  outputs: Record<string, ManifestOutput>;
  /** Store path of the log of the execution that produced it, if kept. */
  log?: string;
  createdAt: string;
  durationMs: number;
  /** Who produced it ("local" in embedded mode, the agent id when distributed). */
  producer: string;
}

export interface PutOptions {
  /** When given, the bytes must hash to this digest or nothing is stored (`digest_mismatch`). */
  expected?: Digest;
  signal?: AbortSignal;
}

export interface ObjectStat {
  size: number;
  /** When the object was last written. */
  mtime: Date;
}

export interface ObjectInfo extends ObjectStat {
  /** Store path, `binhost/…`. */
  path: string;
}

export interface ArtifactStore {
  /** A short description for logs, e.g. "fs:/var/lib/stagefarm". */
  readonly describe: string;

  statBlob(digest: Digest): Promise<BlobInfo | undefined>;
  /** Stores a stream; hashes while writing; returns the digest. Idempotent for equal bytes; storing
   *  bytes that are already present rewrites them, refreshing the blob's mtime (its age for
   *  garbage collection). An abort via `opts.signal` throws `cancelled` and stores nothing. */
  putBlob(data: Readable, opts?: PutOptions): Promise<BlobInfo>;
  /** Stores a local file (may hard-link or copy). */
  putBlobFile(path: string, opts?: PutOptions): Promise<BlobInfo>;
  /** A stream of the blob's bytes that errors with `corrupt_artifact` at the end if they do not match. */
  getBlob(digest: Digest, signal?: AbortSignal): Promise<Readable>;
  /** Writes the blob to `dest` atomically, verified before it appears. */
  getBlobToFile(digest: Digest, dest: string, signal?: AbortSignal): Promise<BlobInfo>;
  /** Reads and re-hashes a blob; throws `corrupt_artifact` on mismatch, `not_found` when absent. */
  verifyBlob(digest: Digest, signal?: AbortSignal): Promise<BlobInfo>;
  listBlobs(): AsyncIterable<BlobInfo>;
  deleteBlob(digest: Digest): Promise<void>;

  getManifest(key: Digest): Promise<Manifest | undefined>;
  /** Writes the manifest if absent. Returns false when one already existed (first writer wins).
   *  Throws `not_found` if a referenced blob is missing. */
  putManifest(manifest: Manifest): Promise<boolean>;
  listManifests(): AsyncIterable<Manifest>;
  deleteManifest(key: Digest): Promise<void>;

  putLog(path: string, data: Readable | string): Promise<void>;
  /** The log's bytes, or only those in `range` (a ranged read: a tail of a log of hundreds of
   *  megabytes costs its own size, not the log's). Throws `not_found` when absent. */
  getLog(path: string, range?: ByteRange): Promise<Readable>;
  /** Logs whose store path starts with `prefix` (default `logs/`; it must start with `logs/`). */
  listLogs(prefix?: string): AsyncIterable<LogInfo>;
  deleteLog(path: string): Promise<void>;

  /** Writes (or replaces) the object at `path` (`binhost/…`, see ./object-paths.ts) atomically:
   *  readers see the previous bytes until the new ones are complete. An abort throws `cancelled`
   *  and leaves the object either as it was or wholly replaced (never partly written). */
  putObject(
    path: string,
    data: Readable | Buffer | string,
    opts?: { signal?: AbortSignal },
  ): Promise<ObjectStat>;
  /** The object's bytes; throws `not_found` when absent. */
  getObject(path: string, opts?: { signal?: AbortSignal }): Promise<Readable>;
  statObject(path: string): Promise<ObjectStat | undefined>;
  /** Removes the object; an absent one is not an error. */
  deleteObject(path: string): Promise<void>;
  /** Objects whose path starts with `prefix` (`binhost/`, or a path or partial name below it), in
   *  no promised order. */
  listObjects(prefix: string): AsyncIterable<ObjectInfo>;
  /** A URL that lets anyone GET the object for `expirySeconds` (stores that can make one). */
  presignObject?(path: string, expirySeconds: number): Promise<string | undefined>;
  /** Waits for an exclusive lock, between processes, on the object at `path` (which need not
   *  exist) and returns it held; a writer that reads, changes and replaces an object holds it
   *  meanwhile. Stores whose objects have one writer by design (S3: the coordinator) have none.
   *  An abort gives up waiting (`cancelled`). */
  lockObject?(path: string, opts?: { signal?: AbortSignal }): Promise<HeldLock>;

  close(): Promise<void>;
}
