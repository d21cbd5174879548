/**
 * The S3 artifact store (distributed mode): the layout of ./types.ts in one bucket of any
 * S3-compatible server (MinIO, Ceph RGW, AWS S3), under an optional key prefix.
 *
 * - putBlob streams through a HashingTransform into `tmp/<random>`, checks the digest, then
 *   copies server-side to `cas/sha256/<2 hex>/<digest>` and deletes the temp object: a blob is
 *   never visible under its digest with other bytes, and a mismatch leaves nothing behind.
 * - putBlobFile hashes the file first and uploads it straight to its final key.
 * - Every read re-hashes (VerifyingTransform): a mismatch is `corrupt_artifact`.
 * - Manifests (./s3-manifests.ts) are written only if absent, after every blob they name:
 *   stat, then put. The coordinator is the single manifest writer (DESIGN.md), so no
 *   conditional put is needed.
 * - Binhost objects (./s3-objects.ts) are plain objects at their paths, replaced by one PUT or
 *   one multipart upload, which S3 makes visible atomically.
 * - Requests are retried with exponential backoff on transient failures only (./s3-retry.ts);
 *   an AbortSignal stops between attempts and destroys streams. A request already sent is let
 *   finish (bounded by the part size), so that clean-up after it sees the final state.
 */
import { mkdir, rename, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { addAbortSignal, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describeS3, type S3Config } from "../config/s3-url.js";
import { assertDigest, sha256File, type Digest } from "../digest.js";
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { Logger } from "../log.js";
import { randomName, unlinkIfExists, withContext, writeNewFile } from "./fs-util.js";
import { digestMismatchError, HashingTransform, VerifyingTransform } from "./hashing.js";
import { assertLogPath, assertLogPrefix, blobPath, checkRange, LOGS_PREFIX } from "./layout.js";
import { S3Bucket } from "./s3-bucket.js";
import { isInvalidRange } from "./s3-errors.js";
import { S3Manifests } from "./s3-manifests.js";
import { S3Objects } from "./s3-objects.js";
import { uploadStream } from "./s3-upload.js";
import type {
  ArtifactStore,
  BlobInfo,
  ByteRange,
  LogInfo,
  Manifest,
  ObjectInfo,
  ObjectStat,
  PutOptions,
} from "./types.js";

export interface S3StoreOptions {
  logger?: Logger;
  /** Retries of a request after a transient failure (default 6). */
  retries?: number;
  /** First backoff wait; it doubles per retry up to 10 s (default 250 ms). */
  retryBaseMs?: number;
  /** Multipart part size (default 16 MiB: at most 156 GiB per blob, ~2 parts in memory per upload). */
  partSizeBytes?: number;
  /** A request whose socket stays silent this long is failed and retried (default 120 s). */
  idleTimeoutMs?: number;
}

const BLOB_KEY = /^cas\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})$/;

export class S3ArtifactStore implements ArtifactStore, AsyncDisposable {
  readonly describe: string;
  readonly #bucket: S3Bucket;
  readonly #log: Logger | undefined;
  readonly #manifests: S3Manifests;
  readonly #objects: S3Objects;
  #closed = false;

  private constructor(bucket: S3Bucket, logger: Logger | undefined) {
    this.#bucket = bucket;
    this.describe = bucket.describe;
    this.#log = logger;
    this.#manifests = new S3Manifests(bucket);
    this.#objects = new S3Objects(bucket, logger);
  }

  /** Connects to the bucket of `cfg`, creating it if absent. */
  static async open(cfg: S3Config, opts: S3StoreOptions = {}): Promise<S3ArtifactStore> {
    const describe = describeS3(cfg);
    const logger = opts.logger?.child({ component: "s3-store" });
    const bucket = new S3Bucket(cfg, describe, {
      logger,
      retry: { retries: opts.retries ?? 6, baseMs: opts.retryBaseMs ?? 250, maxMs: 10_000 },
      partSizeBytes: opts.partSizeBytes ?? 16 << 20,
      idleTimeoutMs: opts.idleTimeoutMs ?? 120_000,
    });
    try {
      await bucket.ensureBucket();
    } catch (err: unknown) {
      bucket.destroy();
      throw err;
    }
    return new S3ArtifactStore(bucket, logger);
  }

  async statBlob(digest: Digest): Promise<BlobInfo | undefined> {
    this.#assertOpen();
    const path = blobPath(digest);
    const info = await this.#bucket.stat(path, `cannot stat blob ${digest} in ${this.describe}`);
    return info === undefined ? undefined : { digest, size: info.size, mtime: info.mtime };
  }

  async putBlob(data: Readable, opts: PutOptions = {}): Promise<BlobInfo> {
    this.#assertOpen();
    if (opts.expected !== undefined) assertDigest(opts.expected, "expected digest");
    throwIfAborted(opts.signal);
    const what = `storing a blob in ${this.describe}`;
    const tmp = `tmp/${randomName()}`;
    let written = false;
    try {
      const hasher = new HashingTransform();
      await uploadStream(this.#bucket, tmp, data, hasher, what, { signal: opts.signal, logger: this.#log });
      written = true;
      const digest = hasher.digest();
      if (opts.expected !== undefined && opts.expected !== digest)
        throw digestMismatchError(opts.expected, digest, hasher.size, this.describe);
      throwIfAborted(opts.signal);
      await this.#bucket.copy(tmp, blobPath(digest), hasher.size, what, { signal: opts.signal });
      return { digest, size: hasher.size };
    } catch (err: unknown) {
      throw withContext(err, what);
    } finally {
      if (written) await this.#bucket.removeQuietly(tmp);
    }
  }

  /** Hashes the file, then uploads it straight to its final key. A file that changes while it is
   *  stored (size, mtime or inode) is removed again and refused. */
  async putBlobFile(path: string, opts: PutOptions = {}): Promise<BlobInfo> {
    this.#assertOpen();
    if (opts.expected !== undefined) assertDigest(opts.expected, "expected digest");
    throwIfAborted(opts.signal);
    const what = `storing file ${path} in ${this.describe}`;
    try {
      const before = await stat(path);
      const { digest, size } = await sha256File(path, opts.signal);
      if (opts.expected !== undefined && opts.expected !== digest)
        throw digestMismatchError(opts.expected, digest, size, this.describe);
      throwIfAborted(opts.signal);
      const key = blobPath(digest);
      await this.#bucket.putFile(key, path, what, { signal: opts.signal });
      const after = await stat(path);
      if (after.size !== size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
        await this.#bucket.remove(key, what);
        throw new StagefarmError("invalid_argument", `${what}: the file changed while it was being stored`);
      }
      return { digest, size };
    } catch (err: unknown) {
      throw withContext(err, what);
    }
  }

  getBlob(digest: Digest, signal?: AbortSignal): Promise<Readable> {
    return this.#openVerified(digest, signal, true);
  }

  async getBlobToFile(digest: Digest, dest: string, signal?: AbortSignal): Promise<BlobInfo> {
    this.#assertOpen();
    const what = `copying blob ${digest} from ${this.describe} to ${dest}`;
    const tmp = `${dest}.tmp-${randomName()}`;
    try {
      throwIfAborted(signal);
      await mkdir(dirname(dest), { recursive: true });
      // A download cut off half-way is started again: the whole exchange is the retried unit.
      const size = await this.#bucket.call(
        what,
        async () => {
          await unlinkIfExists(tmp);
          const source = await this.#openVerified(digest, signal, false);
          try {
            await writeNewFile(tmp, source, undefined, signal);
          } finally {
            source.destroy();
          }
          return source.size;
        },
        { signal },
      );
      await rename(tmp, dest);
      return { digest, size };
    } catch (err: unknown) {
      throw withContext(err, what);
    } finally {
      await unlinkIfExists(tmp);
    }
  }

  async verifyBlob(digest: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    this.#assertOpen();
    const what = `verifying blob ${digest} in ${this.describe}`;
    const size = await this.#bucket.call(
      what,
      async () => {
        const source = await this.#openVerified(digest, signal, false);
        await pipeline(source, new Writable({ write: (_chunk, _enc, done) => done() }));
        return source.size;
      },
      { signal },
    );
    return { digest, size };
  }

  async *listBlobs(): AsyncGenerator<BlobInfo> {
    this.#assertOpen();
    for await (const o of this.#bucket.list("cas/sha256/")) {
      const [, shard = "", digest = ""] = BLOB_KEY.exec(o.path) ?? [];
      if (digest === "" || !digest.startsWith(shard)) continue;
      yield { digest, size: o.size, mtime: o.mtime };
    }
  }

  async deleteBlob(digest: Digest): Promise<void> {
    this.#assertOpen();
    await this.#bucket.remove(blobPath(digest), `removing blob ${digest} from ${this.describe}`);
  }

  async getManifest(key: Digest): Promise<Manifest | undefined> {
    this.#assertOpen();
    return await this.#manifests.get(key);
  }

  /** Writes the manifest if absent (see the module comment for why no conditional put is needed). */
  async putManifest(manifest: Manifest): Promise<boolean> {
    this.#assertOpen();
    return await this.#manifests.put(manifest, (digest) => this.statBlob(digest));
  }

  async *listManifests(): AsyncGenerator<Manifest> {
    this.#assertOpen();
    yield* this.#manifests.list();
  }

  async deleteManifest(key: Digest): Promise<void> {
    this.#assertOpen();
    await this.#manifests.delete(key);
  }

  async putLog(path: string, data: Readable | string): Promise<void> {
    this.#assertOpen();
    assertLogPath(path);
    const what = `storing log ${path} in ${this.describe}`;
    try {
      if (typeof data === "string") await this.#bucket.putBuffer(path, Buffer.from(data), what);
      else await uploadStream(this.#bucket, path, data, undefined, what, { logger: this.#log });
    } catch (err: unknown) {
      throw withContext(err, what);
    }
  }

  async getLog(path: string, range?: ByteRange): Promise<Readable> {
    this.#assertOpen();
    assertLogPath(path);
    const r = checkRange(range);
    const what = `reading log ${path} from ${this.describe}`;
    try {
      if (r.start === 0 && r.end === undefined) return await this.#bucket.open(path, what);
      if (r.end !== undefined && r.end <= r.start) {
        // Nothing to read, but a missing log is still reported.
        if ((await this.#bucket.stat(path, what)) === undefined)
          throw new StagefarmError("not_found", `log ${path} not found`);
        return Readable.from([]);
      }
      return await this.#bucket.openRange(
        path,
        r.start,
        r.end === undefined ? undefined : r.end - r.start,
        what,
      );
    } catch (err: unknown) {
      if (err instanceof StagefarmError && err.code === "not_found")
        throw new StagefarmError("not_found", `log ${path} not found in ${this.describe}`, { cause: err });
      // A start at or past the end: S3 answers 416 (InvalidRange); the range holds no bytes.
      if (isInvalidRange(err)) {
        if ((await this.#bucket.stat(path, what)) === undefined)
          throw new StagefarmError("not_found", `log ${path} not found in ${this.describe}`, { cause: err });
        return Readable.from([]);
      }
      throw err;
    }
  }

  async *listLogs(prefix: string = LOGS_PREFIX): AsyncGenerator<LogInfo> {
    this.#assertOpen();
    for await (const o of this.#bucket.list(assertLogPrefix(prefix))) {
      yield { path: o.path, size: o.size, mtime: o.mtime };
    }
  }

  async deleteLog(path: string): Promise<void> {
    this.#assertOpen();
    assertLogPath(path);
    await this.#bucket.remove(path, `removing log ${path} from ${this.describe}`);
  }

  async putObject(
    path: string,
    data: Readable | Buffer | string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ObjectStat> {
    this.#assertOpen();
    return await this.#objects.put(path, data, opts.signal);
  }

  async getObject(path: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    this.#assertOpen();
    return await this.#objects.get(path, opts.signal);
  }

  async statObject(path: string): Promise<ObjectStat | undefined> {
    this.#assertOpen();
    return await this.#objects.stat(path);
  }

  async deleteObject(path: string): Promise<void> {
    this.#assertOpen();
    await this.#objects.delete(path);
  }

  async *listObjects(prefix: string): AsyncGenerator<ObjectInfo> {
    this.#assertOpen();
    yield* this.#objects.list(prefix);
  }

  /** A presigned GET URL for the object (it may not exist yet), valid `expirySeconds` (1 s to 7 days). */
  async presignObject(path: string, expirySeconds: number): Promise<string> {
    this.#assertOpen();
    return await this.#objects.presign(path, expirySeconds);
  }

  /**
   * Removes objects under `tmp/` older than `olderThanMs`: leftovers of a process that died while
   * uploading. Only safe with an age longer than any upload can take. Returns the paths removed.
   */
  async removeStaleTemp(olderThanMs: number, now: Date = new Date()): Promise<string[]> {
    this.#assertOpen();
    const removed: string[] = [];
    for await (const o of this.#bucket.list("tmp/")) {
      if (now.getTime() - o.mtime.getTime() < olderThanMs) continue;
      await this.#bucket.remove(o.path, `removing stale ${o.path} from ${this.describe}`);
      removed.push(o.path);
    }
    return removed;
  }

  /** Idempotent: closes the client's connections and refuses later use. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#bucket.destroy();
    }
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The blob's bytes through a VerifyingTransform; `not_found` when absent. */
  async #openVerified(
    digest: Digest,
    signal: AbortSignal | undefined,
    retry: boolean,
  ): Promise<VerifyingTransform> {
    this.#assertOpen();
    throwIfAborted(signal);
    const path = blobPath(digest);
    const what = `reading blob ${digest} from ${this.describe}`;
    let body: Readable;
    try {
      body = await this.#bucket.open(path, what, { signal, retry });
    } catch (err: unknown) {
      if (err instanceof StagefarmError && err.code === "not_found")
        throw new StagefarmError("not_found", `artifact ${digest} not found in ${this.describe}`, {
          cause: err,
          details: { digest, store: this.describe },
        });
      throw err;
    }
    if (signal !== undefined) addAbortSignal(signal, body);
    const verifier = new VerifyingTransform(digest, this.describe);
    // A network failure or an abort reaches the consumer as a StagefarmError on `verifier`; a
    // consumer that stops early (destroys `verifier`) closes the response.
    body.on("error", (err: unknown) => verifier.destroy(this.#bucket.error(err, what)));
    verifier.on("close", () => body.destroy());
    body.pipe(verifier);
    return verifier;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StagefarmError("internal", `artifact store ${this.describe} is closed`);
  }
}
