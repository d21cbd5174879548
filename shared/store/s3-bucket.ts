/**
 * One bucket (and key prefix) of an S3-compatible server, through the minio client: the
 * primitive object operations the S3 artifact store is built from, each retried with backoff on
 * transient failures and mapped to StagefarmErrors that name the operation and never carry the
 * secret key.
 *
 * Paths are store layout keys (`cas/…`, `ac/…`, `logs/…`, `tmp/…`); the configured prefix is
 * added here and stripped from listings. The client gets its own keep-alive agent (destroyed by
 * `destroy()`), an idle timeout on every request (a silent server fails with ETIMEDOUT and is
 * retried instead of hanging), a fixed part size (minio's default for streams of unknown size is
 * ~528 MiB parts, all buffered in memory) and minio's own retries off (ours decide).
 */
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, CopyDestinationOptions, CopySourceOptions } from "minio";
import type { S3Config } from "../config/s3-url.js";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import { classifyS3Error, s3ErrorCode, scrubSecrets, toS3StoreError } from "./s3-errors.js";
import { backoffMs, withRetry, type RetryPolicy } from "./s3-retry.js";

export interface S3BucketOptions {
  logger?: Logger;
  retry: RetryPolicy;
  /** Size of multipart upload parts (S3 minimum 5 MiB); at most 10 000 parts per object. */
  partSizeBytes: number;
  /** A request whose socket stays silent this long fails with ETIMEDOUT. */
  idleTimeoutMs: number;
}

export interface S3ObjectInfo {
  /** Store path (without the configured prefix). */
  path: string;
  size: number;
  mtime: Date;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** false: one attempt only (clean-up paths that must not stall). */
  retry?: boolean;
}

/** S3 CopyObject handles sources up to 5 GiB; larger ones are copied part by part. */
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;

/** The statuses minio's request layer turns into "Retryable HTTP status" errors. */
const RETRYABLE_STATUS = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

type RequestCallback = (res: http.IncomingMessage) => void;

/** http(s).request with an idle timeout; minio only ever calls `request(options, callback)`. */
function timedTransport(useSSL: boolean, idleTimeoutMs: number) {
  return {
    request(
      options: http.RequestOptions | string | URL,
      second?: http.RequestOptions | RequestCallback,
      third?: RequestCallback,
    ): http.ClientRequest {
      if (typeof options !== "object" || options instanceof URL || typeof second === "object" || third)
        throw new StagefarmError("internal", "the S3 client made a request in an unexpected form");
      const callback = (res: http.IncomingMessage): void => {
        // minio throws on these without reading the body: drain it so the socket is reused.
        if (RETRYABLE_STATUS.has(res.statusCode ?? 0)) res.resume();
        second?.(res);
      };
      const req = useSSL ? https.request(options, callback) : http.request(options, callback);
      req.setTimeout(idleTimeoutMs, () => {
        const err = Object.assign(new Error(`no data from the S3 server for ${idleTimeoutMs} ms`), {
          code: "ETIMEDOUT",
        });
        req.destroy(err);
      });
      return req;
    },
  };
}

export class S3Bucket {
  readonly describe: string;
  readonly partSizeBytes: number;
  readonly #cfg: S3Config;
  readonly #client: Client;
  readonly #agent: http.Agent;
  readonly #log: Logger | undefined;
  readonly #retry: RetryPolicy;
  readonly #secrets: readonly string[];

  constructor(cfg: S3Config, describe: string, opts: S3BucketOptions) {
    this.#cfg = cfg;
    this.describe = describe;
    this.partSizeBytes = opts.partSizeBytes;
    this.#log = opts.logger;
    this.#retry = opts.retry;
    this.#secrets = [cfg.secretKey];
    this.#agent = cfg.useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    try {
      this.#client = new Client({
        endPoint: cfg.endPoint,
        port: cfg.port,
        useSSL: cfg.useSSL,
        accessKey: cfg.accessKey,
        secretKey: cfg.secretKey,
        region: cfg.region,
        pathStyle: true,
        partSize: opts.partSizeBytes,
        transport: timedTransport(cfg.useSSL, opts.idleTimeoutMs),
        transportAgent: this.#agent,
        retryOptions: { disableRetry: true },
      });
    } catch (err: unknown) {
      this.#agent.destroy();
      const e = StagefarmError.from(err, "invalid_argument");
      throw new StagefarmError(
        "invalid_argument",
        `cannot use S3 store ${describe}: ${scrubSecrets(e.message, this.#secrets)}`,
      );
    }
  }

  get bucket(): string {
    return this.#cfg.bucket;
  }

  /** The object name of a store path. */
  key(path: string): string {
    return this.#cfg.prefix === "" ? path : `${this.#cfg.prefix}/${path}`;
  }

  /** Runs one S3 operation with retries; failures become StagefarmErrors naming `what`. */
  async call<T>(what: string, fn: (client: Client) => Promise<T>, opts: CallOptions = {}): Promise<T> {
    const policy = opts.retry === false ? { ...this.#retry, retries: 0 } : this.#retry;
    let attempts = 0;
    try {
      return await withRetry(
        (attempt) => {
          attempts = attempt;
          return fn(this.#client);
        },
        policy,
        {
          signal: opts.signal,
          // Debug: the caller reports the outcome once (a store outage: ./store-outage.ts).
          onRetry: (err, retry, delayMs) =>
            this.#log?.debug(
              {
                store: this.describe,
                what,
                retry,
                retries: policy.retries,
                delayMs,
                error: this.#scrub(err),
              },
              "S3 request failed, retrying",
            ),
        },
      );
    } catch (err: unknown) {
      throw this.error(err, what, attempts);
    }
  }

  error(err: unknown, what: string, attempts?: number): StagefarmError {
    return toS3StoreError(err, { what, store: this.describe, secrets: this.#secrets, attempts });
  }

  /** Size and mtime of an object, undefined when absent. */
  async stat(path: string, what: string, opts: CallOptions = {}): Promise<S3ObjectInfo | undefined> {
    try {
      const st = await this.call(what, (c) => c.statObject(this.bucket, this.key(path)), opts);
      return { path, size: st.size, mtime: st.lastModified };
    } catch (err: unknown) {
      if (err instanceof StagefarmError && err.code === "not_found") return undefined;
      throw err;
    }
  }

  /** A stream of the object's bytes (the request is retried; the body is not). */
  open(path: string, what: string, opts: CallOptions = {}): Promise<Readable> {
    return this.call(what, (c) => c.getObject(this.bucket, this.key(path)), opts);
  }

  /** Bytes `[start, start + length)` of the object (a ranged GET; to its end without a length). */
  openRange(path: string, start: number, length: number | undefined, what: string): Promise<Readable> {
    return this.call(what, (c) => c.getPartialObject(this.bucket, this.key(path), start, length));
  }

  async putBuffer(path: string, data: Buffer, what: string, opts: CallOptions = {}): Promise<void> {
    await this.call(what, (c) => c.putObject(this.bucket, this.key(path), data, data.length), opts);
  }

  /** Uploads a local file (one PUT up to the part size, multipart above; re-read on each retry). */
  async putFile(path: string, file: string, what: string, opts: CallOptions = {}): Promise<void> {
    await this.call(what, (c) => c.fPutObject(this.bucket, this.key(path), file), opts);
  }

  /** Server-side copy of `from` to `to`. */
  async copy(from: string, to: string, size: number, what: string, opts: CallOptions = {}): Promise<void> {
    const source = new CopySourceOptions({ Bucket: this.bucket, Object: this.key(from) });
    const dest = new CopyDestinationOptions({ Bucket: this.bucket, Object: this.key(to) });
    await this.call(
      what,
      (c) => (size <= MAX_SINGLE_COPY_BYTES ? c.copyObject(source, dest) : c.composeObject(dest, [source])),
      opts,
    );
  }

  /** Removes an object; an absent one is not an error (S3 DELETE is idempotent). */
  async remove(path: string, what: string, opts: CallOptions = {}): Promise<void> {
    await this.call(what, (c) => c.removeObject(this.bucket, this.key(path)), opts);
  }

  /** Removes an object after a failure or as clean-up: a failure is logged, not thrown. */
  async removeQuietly(path: string, opts: CallOptions = {}): Promise<void> {
    try {
      await this.remove(path, `removing ${path} from ${this.describe}`, opts);
    } catch (err: unknown) {
      this.#log?.warn({ store: this.describe, path, error: this.#scrub(err) }, "could not remove S3 object");
    }
  }

  initiateUpload(path: string, what: string, opts: CallOptions = {}): Promise<string> {
    return this.call(what, (c) => c.initiateNewMultipartUpload(this.bucket, this.key(path), {}), opts);
  }

  async uploadPart(
    path: string,
    uploadId: string,
    partNumber: number,
    data: Buffer,
    what: string,
    opts: CallOptions = {},
  ): Promise<string> {
    const part = { bucketName: this.bucket, objectName: this.key(path), uploadID: uploadId, partNumber };
    const res = await this.call(what, (c) => c.uploadPart({ ...part, headers: {} }, data), opts);
    return res.etag;
  }

  async completeUpload(
    path: string,
    uploadId: string,
    etags: Array<{ part: number; etag: string }>,
    what: string,
    opts: CallOptions = {},
  ): Promise<void> {
    await this.call(
      what,
      (c) => c.completeMultipartUpload(this.bucket, this.key(path), uploadId, etags),
      opts,
    );
  }

  /** Aborts a multipart upload (frees its parts); failures are logged, not thrown. */
  async abortUpload(path: string, uploadId: string): Promise<void> {
    try {
      await this.call(`aborting the upload of ${path}`, (c) =>
        c.abortMultipartUpload(this.bucket, this.key(path), uploadId),
      );
    } catch (err: unknown) {
      this.#log?.warn(
        { store: this.describe, path, uploadId, error: this.#scrub(err) },
        "could not abort S3 multipart upload",
      );
    }
  }

  /** Every object whose store path starts with `pathPrefix`, in key order. A listing interrupted
   *  by a transient failure resumes after the last key it returned. */
  async *list(pathPrefix: string): AsyncGenerator<S3ObjectInfo> {
    const full = this.key(pathPrefix);
    const strip = this.#cfg.prefix === "" ? 0 : this.#cfg.prefix.length + 1;
    const what = `listing ${pathPrefix} in ${this.describe}`;
    let startAfter = "";
    for (let failures = 0; ;) {
      try {
        const items: AsyncIterable<unknown> = this.#client.listObjectsV2(this.bucket, full, true, startAfter);
        for await (const item of items) {
          if (!isListedObject(item)) continue;
          startAfter = item.name;
          failures = 0;
          yield { path: item.name.slice(strip), size: item.size, mtime: item.lastModified };
        }
        return;
      } catch (err: unknown) {
        if (classifyS3Error(err) !== "transient" || failures >= this.#retry.retries)
          throw this.error(err, what, failures + 1);
        const delayMs = backoffMs(failures, this.#retry);
        failures++;
        this.#log?.debug(
          { store: this.describe, what, retry: failures, delayMs, error: this.#scrub(err) },
          "S3 listing failed, resuming",
        );
        await sleep(delayMs);
      }
    }
  }

  /** Creates the bucket if it does not exist. */
  async ensureBucket(signal?: AbortSignal): Promise<void> {
    const what = `opening the artifact store ${this.describe}`;
    const exists = await this.call(what, (c) => c.bucketExists(this.bucket), { signal });
    if (exists) return;
    try {
      await this.call(what, (c) => c.makeBucket(this.bucket, this.#cfg.region), { signal });
      this.#log?.info({ store: this.describe }, "created S3 bucket");
    } catch (err: unknown) {
      // Another process may have created it between our check and our request (servers answer
      // BucketAlreadyOwnedByYou or, s3rver, BucketAlreadyExists): it is there now, or we fail.
      const code = s3ErrorCode(err instanceof StagefarmError ? err.cause : err);
      if (code === "BucketAlreadyOwnedByYou") return;
      if (await this.call(what, (c) => c.bucketExists(this.bucket), { signal })) return;
      throw err;
    }
  }

  /** Closes the connections of the client's agent. */
  destroy(): void {
    this.#agent.destroy();
  }

  #scrub(err: unknown): string {
    return scrubSecrets(err instanceof Error ? err.message : String(err), this.#secrets);
  }
}

function isListedObject(x: unknown): x is { name: string; size: number; lastModified: Date } {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.name === "string" && typeof o.size === "number" && o.lastModified instanceof Date;
}
