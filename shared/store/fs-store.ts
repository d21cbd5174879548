/**
 * The filesystem artifact store (embedded mode): the layout of ./types.ts under one root
 * directory, plus `<root>/tmp/` for files being written (same filesystem, so renames are atomic).
 *
 * Writes go to `tmp/<random>`, are hashed while written, fsynced, checked, made read-only and
 * renamed into place, so a blob is visible only when complete and verified. Storing bytes that
 * are already present renames over the old copy: concurrent writers of one blob are safe, a
 * corrupt copy is healed, and the blob's mtime (its age for garbage collection) is refreshed.
 * Manifests are published with `link()`, which fails if the name exists: "only if absent"
 * without a lock. Every read re-hashes the bytes. Binhost objects are plain files at their
 * paths, replaced by rename (./fs-objects.ts).
 */
import { constants } from "node:fs";
import { chmod, copyFile, link, mkdir, open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { assertDigest, isDigest, sha256File, type Digest } from "../digest.js";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { lockFile, type HeldLock } from "./fs-lock.js";
import { deleteLogFile, getLogFile, listLogFiles, putLogFile, type FsLogsLocation } from "./fs-logs.js";
import {
  deleteObjectFile,
  getObjectFile,
  listObjectFiles,
  putObjectFile,
  statObjectFile,
} from "./fs-objects.js";
import { errnoOf } from "../util/fs.js";
import { randomName, readdirIfExists, unlinkIfExists, withContext, writeNewFile } from "./fs-util.js";
import { corruptBlobError, digestMismatchError, HashingTransform, VerifyingTransform } from "./hashing.js";
import { assertLogPath, blobPath, manifestPath } from "./layout.js";
import { assertObjectPath } from "./object-paths.js";
import { checkManifest, parseManifest } from "./manifest-schema.js";
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

const BLOB_MODE = 0o444;
const CHUNK_BYTES = 1 << 20;
const MANIFEST_NAME = /^([0-9a-f]{64})\.json$/;

export class FsArtifactStore implements ArtifactStore, AsyncDisposable {
  readonly describe: string;
  /** Absolute path of the store root. */
  readonly root: string;
  readonly #tmpDir: string;
  /** Where logs and objects live (root, temp dir, description for messages). */
  readonly #loc: FsLogsLocation;
  #closed = false;

  private constructor(root: string) {
    this.root = root;
    this.describe = `fs:${root}`;
    this.#tmpDir = join(root, "tmp");
    this.#loc = { root, tmpDir: this.#tmpDir, describe: this.describe };
  }

  /** Opens (creating if needed) a store rooted at `root`. */
  static async open(root: string): Promise<FsArtifactStore> {
    const abs = resolve(root);
    try {
      for (const dir of ["cas/sha256", "ac", "logs", "tmp"]) await mkdir(join(abs, dir), { recursive: true });
    } catch (err: unknown) {
      throw withContext(err, `cannot open the artifact store at ${abs}`);
    }
    return new FsArtifactStore(abs);
  }

  async statBlob(digest: Digest): Promise<BlobInfo | undefined> {
    this.#assertOpen();
    const file = this.#blobFile(digest);
    try {
      const st = await stat(file);
      return { digest, size: st.size, mtime: st.mtime };
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw withContext(err, `cannot stat blob ${digest} in ${this.describe}`);
    }
  }

  async putBlob(data: Readable, opts: PutOptions = {}): Promise<BlobInfo> {
    this.#assertOpen();
    if (opts.expected !== undefined) assertDigest(opts.expected, "expected digest");
    throwIfAborted(opts.signal);
    const tmp = this.#tmpFile();
    try {
      const hasher = new HashingTransform();
      await writeNewFile(tmp, data, hasher, opts.signal);
      return await this.#install(tmp, hasher.digest(), hasher.size, opts);
    } catch (err: unknown) {
      throw withContext(err, `storing a blob in ${this.describe}`);
    } finally {
      await unlinkIfExists(tmp);
    }
  }

  /** Copies the file (a reflink where the filesystem can), then hashes the private copy. */
  async putBlobFile(path: string, opts: PutOptions = {}): Promise<BlobInfo> {
    this.#assertOpen();
    if (opts.expected !== undefined) assertDigest(opts.expected, "expected digest");
    throwIfAborted(opts.signal);
    const tmp = this.#tmpFile();
    try {
      await copyFile(path, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      throwIfAborted(opts.signal);
      const { digest, size } = await sha256File(tmp, opts.signal);
      const fh = await open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      return await this.#install(tmp, digest, size, opts);
    } catch (err: unknown) {
      throw withContext(err, `storing file ${path} in ${this.describe}`);
    } finally {
      await unlinkIfExists(tmp);
    }
  }

  getBlob(digest: Digest, signal?: AbortSignal): Promise<Readable> {
    return this.#openVerified(digest, signal);
  }

  async getBlobToFile(digest: Digest, dest: string, signal?: AbortSignal): Promise<BlobInfo> {
    this.#assertOpen();
    const tmp = `${dest}.tmp-${randomName()}`;
    let source: VerifyingTransform | undefined;
    try {
      await mkdir(dirname(dest), { recursive: true });
      source = await this.#openVerified(digest, signal);
      await writeNewFile(tmp, source, undefined, signal);
      await rename(tmp, dest);
      return { digest, size: source.size };
    } catch (err: unknown) {
      source?.destroy();
      throw withContext(err, `copying blob ${digest} from ${this.describe} to ${dest}`);
    } finally {
      await unlinkIfExists(tmp);
    }
  }

  async verifyBlob(digest: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    this.#assertOpen();
    const file = this.#blobFile(digest);
    let actual: { digest: Digest; size: number };
    try {
      actual = await sha256File(file, signal);
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") throw this.#notFound(digest, err);
      throw withContext(err, `verifying blob ${digest} in ${this.describe}`);
    }
    if (actual.digest !== digest) throw corruptBlobError(digest, actual.digest, this.describe);
    return { digest, size: actual.size };
  }

  async *listBlobs(): AsyncGenerator<BlobInfo> {
    this.#assertOpen();
    const base = join(this.root, "cas", "sha256");
    for (const prefix of await readdirIfExists(base)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await readdirIfExists(join(base, prefix))) {
        if (!isDigest(name) || !name.startsWith(prefix)) continue;
        const info = await this.statBlob(name);
        if (info !== undefined) yield info;
      }
    }
  }

  async deleteBlob(digest: Digest): Promise<void> {
    this.#assertOpen();
    await unlinkIfExists(this.#blobFile(digest));
  }

  async getManifest(key: Digest): Promise<Manifest | undefined> {
    this.#assertOpen();
    const file = join(this.root, manifestPath(key));
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw withContext(err, `reading manifest ${file}`);
    }
    return parseManifest(text, file, key);
  }

  async putManifest(manifest: Manifest): Promise<boolean> {
    this.#assertOpen();
    const m = checkManifest(manifest);
    if (m.log !== undefined) assertLogPath(m.log);
    for (const [name, out] of Object.entries(m.outputs)) {
      const info = await this.statBlob(out.digest);
      const what = `cannot publish the cache entry of stage "${m.stage}" (key ${m.key}): output "${name}"`;
      if (info === undefined)
        throw new StagefarmError(
          "not_found",
          `${what} refers to blob ${out.digest}, which is not in ${this.describe}`,
          {
            details: { key: m.key, output: name, digest: out.digest },
          },
        );
      if (info.size !== out.size)
        throw new StagefarmError(
          "invalid_argument",
          `${what} records ${out.size} bytes but blob ${out.digest} has ${info.size} bytes`,
        );
    }
    const target = join(this.root, manifestPath(m.key));
    const tmp = this.#tmpFile();
    try {
      await writeFile(tmp, `${JSON.stringify(m, null, 2)}\n`, { flag: "wx", flush: true });
      await link(tmp, target);
      return true;
    } catch (err: unknown) {
      if (errnoOf(err) === "EEXIST") return false;
      throw withContext(err, `writing manifest ${target}`);
    } finally {
      await unlinkIfExists(tmp);
    }
  }

  async *listManifests(): AsyncGenerator<Manifest> {
    this.#assertOpen();
    for (const name of await readdirIfExists(join(this.root, "ac"))) {
      const key = MANIFEST_NAME.exec(name)?.[1];
      if (key === undefined) continue;
      const m = await this.getManifest(key);
      if (m !== undefined) yield m;
    }
  }

  async deleteManifest(key: Digest): Promise<void> {
    this.#assertOpen();
    await unlinkIfExists(join(this.root, manifestPath(key)));
  }

  async putLog(path: string, data: Readable | string): Promise<void> {
    this.#assertOpen();
    await putLogFile(this.#loc, path, data);
  }

  async getLog(path: string, range?: ByteRange): Promise<Readable> {
    this.#assertOpen();
    return await getLogFile(this.#loc, path, range);
  }

  async *listLogs(prefix?: string): AsyncGenerator<LogInfo> {
    this.#assertOpen();
    yield* listLogFiles(this.#loc, prefix);
  }

  async deleteLog(path: string): Promise<void> {
    this.#assertOpen();
    await deleteLogFile(this.#loc, path);
  }

  async putObject(
    path: string,
    data: Readable | Buffer | string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ObjectStat> {
    this.#assertOpen();
    return await putObjectFile(this.#loc, path, data, opts.signal);
  }

  async getObject(path: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    this.#assertOpen();
    return await getObjectFile(this.#loc, path, opts.signal);
  }

  /** A flock(2) on `<root>/locks/<path>.lock` (./fs-lock.ts): held until released or this
   *  process dies, whoever else (any process on this store) asks for it waits. */
  lockObject(path: string, opts: { signal?: AbortSignal } = {}): Promise<HeldLock> {
    assertObjectPath(path);
    return lockFile(
      join(this.root, "locks", `${path}.lock`),
      `locking ${path} in ${this.describe}`,
      opts.signal,
    );
  }

  async statObject(path: string): Promise<ObjectStat | undefined> {
    this.#assertOpen();
    return await statObjectFile(this.#loc, path);
  }

  async deleteObject(path: string): Promise<void> {
    this.#assertOpen();
    await deleteObjectFile(this.#loc, path);
  }

  async *listObjects(prefix: string): AsyncGenerator<ObjectInfo> {
    this.#assertOpen();
    yield* listObjectFiles(this.#loc, prefix);
  }

  /**
   * Removes files in `tmp/` older than `olderThanMs`: leftovers of a process that died while
   * writing. Only safe with an age longer than any write can take. Returns the names removed.
   */
  async removeStaleTemp(olderThanMs: number, now: Date = new Date()): Promise<string[]> {
    this.#assertOpen();
    const removed: string[] = [];
    for (const name of await readdirIfExists(this.#tmpDir)) {
      const file = join(this.#tmpDir, name);
      try {
        const st = await stat(file);
        if (now.getTime() - st.mtimeMs < olderThanMs) continue;
      } catch (err: unknown) {
        if (errnoOf(err) === "ENOENT") continue;
        throw withContext(err, `cannot stat ${file}`);
      }
      await unlinkIfExists(file);
      removed.push(name);
    }
    return removed;
  }

  /** Idempotent. Nothing is held open between calls, so this only refuses later use. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Makes a fully written temp file the blob `digest`, after checking `opts.expected`. */
  async #install(tmp: string, digest: Digest, size: number, opts: PutOptions): Promise<BlobInfo> {
    if (opts.expected !== undefined && opts.expected !== digest)
      throw digestMismatchError(opts.expected, digest, size, this.describe);
    throwIfAborted(opts.signal);
    const target = this.#blobFile(digest);
    await chmod(tmp, BLOB_MODE);
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
    return { digest, size };
  }

  async #openVerified(digest: Digest, signal?: AbortSignal): Promise<VerifyingTransform> {
    this.#assertOpen();
    const file = this.#blobFile(digest);
    throwIfAborted(signal);
    let fh;
    try {
      fh = await open(file, "r");
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") throw this.#notFound(digest, err);
      throw withContext(err, `reading blob ${digest} from ${this.describe}`);
    }
    const source = fh.createReadStream({ highWaterMark: CHUNK_BYTES, signal });
    const verifier = new VerifyingTransform(digest, this.describe);
    // A read failure or an abort reaches the consumer as a StagefarmError on `verifier`; a
    // consumer that stops early (destroys `verifier`) releases the file.
    source.on("error", (err: unknown) =>
      verifier.destroy(withContext(err, `reading blob ${digest} from ${this.describe}`)),
    );
    verifier.on("close", () => source.destroy());
    source.pipe(verifier);
    return verifier;
  }

  #notFound(digest: Digest, cause: unknown): StagefarmError {
    return new StagefarmError("not_found", `artifact ${digest} not found in ${this.describe}`, {
      cause,
      details: { digest, store: this.describe },
    });
  }

  #blobFile(digest: Digest): string {
    return join(this.root, blobPath(digest));
  }

  #tmpFile(): string {
    return join(this.#tmpDir, randomName());
  }

  #assertOpen(): void {
    if (this.#closed) throw new StagefarmError("internal", `artifact store ${this.describe} is closed`);
  }
}
