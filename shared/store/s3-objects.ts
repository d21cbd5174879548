/**
 * The plain objects (`binhost/…`) of the S3 artifact store: each object is the S3 object whose
 * key is its path (below the bucket prefix).
 *
 * - put: one PUT (strings, buffers, streams shorter than a part) or a multipart upload (longer
 *   streams, ./s3-upload.ts). S3 makes either visible atomically when it completes: readers get
 *   the old object or the new one, never a part. No temp key or copy is needed.
 * - presign: a GET URL signed with the store's credentials (minio `presignedGetObject`),
 *   computed locally; anyone holding it may read that one object until it expires.
 * Paths are checked by {@link assertObjectPath}, so nothing outside `binhost/` is touched.
 */
import { addAbortSignal, PassThrough, type Readable } from "node:stream";
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { Logger } from "../log.js";
import { withContext } from "./fs-util.js";
import { assertObjectPath, assertObjectPrefix } from "./object-paths.js";
import type { S3Bucket } from "./s3-bucket.js";
import { uploadStream } from "./s3-upload.js";
import type { ObjectInfo, ObjectStat } from "./types.js";

/** S3 refuses presigned URLs valid longer than 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export class S3Objects {
  readonly #bucket: S3Bucket;
  readonly #log: Logger | undefined;

  constructor(bucket: S3Bucket, logger: Logger | undefined) {
    this.#bucket = bucket;
    this.#log = logger;
  }

  async put(
    path: string,
    data: Readable | Buffer | string,
    signal: AbortSignal | undefined,
  ): Promise<ObjectStat> {
    assertObjectPath(path);
    const what = `storing ${path} in ${this.#bucket.describe}`;
    throwIfAborted(signal);
    try {
      let size: number;
      if (typeof data === "string" || Buffer.isBuffer(data)) {
        const bytes = typeof data === "string" ? Buffer.from(data) : data;
        await this.#bucket.putBuffer(path, bytes, what, { signal });
        size = bytes.length;
      } else {
        size = (await uploadStream(this.#bucket, path, data, undefined, what, { signal, logger: this.#log }))
          .size;
      }
      const st = await this.#bucket.stat(path, what, { signal });
      if (st === undefined)
        throw new StagefarmError(
          "unavailable",
          `${what}: the object is not there right after it was written`,
        );
      return { size, mtime: st.mtime };
    } catch (err: unknown) {
      throw withContext(err, what);
    }
  }

  async get(path: string, signal: AbortSignal | undefined): Promise<Readable> {
    assertObjectPath(path);
    const what = `reading ${path} from ${this.#bucket.describe}`;
    throwIfAborted(signal);
    let body: Readable;
    try {
      body = await this.#bucket.open(path, what, { signal });
    } catch (err: unknown) {
      if (err instanceof StagefarmError && err.code === "not_found")
        throw new StagefarmError("not_found", `${path} not found in ${this.#bucket.describe}`, {
          cause: err,
          details: { path, store: this.#bucket.describe },
        });
      throw err;
    }
    if (signal !== undefined) addAbortSignal(signal, body);
    // A network failure or an abort reaches the consumer as a StagefarmError; a consumer that
    // stops early (destroys the result) closes the response.
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    body.on("error", (err: unknown) => out.destroy(this.#bucket.error(err, what)));
    out.on("close", () => body.destroy());
    body.pipe(out);
    return out;
  }

  async stat(path: string): Promise<ObjectStat | undefined> {
    assertObjectPath(path);
    const info = await this.#bucket.stat(path, `cannot stat ${path} in ${this.#bucket.describe}`);
    return info === undefined ? undefined : { size: info.size, mtime: info.mtime };
  }

  async delete(path: string): Promise<void> {
    assertObjectPath(path);
    await this.#bucket.remove(path, `removing ${path} from ${this.#bucket.describe}`);
  }

  async *list(prefix: string): AsyncGenerator<ObjectInfo> {
    for await (const o of this.#bucket.list(assertObjectPrefix(prefix)))
      yield { path: o.path, size: o.size, mtime: o.mtime };
  }

  async presign(path: string, expirySeconds: number): Promise<string> {
    assertObjectPath(path);
    if (!Number.isSafeInteger(expirySeconds) || expirySeconds < 1 || expirySeconds > MAX_PRESIGN_SECONDS)
      throw new StagefarmError(
        "invalid_argument",
        `cannot presign ${path}: the expiry must be 1 to ${MAX_PRESIGN_SECONDS} seconds, got ${expirySeconds}`,
      );
    const bucket = this.#bucket;
    return await bucket.call(`presigning ${path} in ${bucket.describe}`, (c) =>
      c.presignedGetObject(bucket.bucket, bucket.key(path), expirySeconds),
    );
  }
}
