/**
 * Streams a Readable of unknown length into one S3 object with bounded memory.
 *
 * Bytes are copied into part buffers of the bucket's part size. A stream that ends before the
 * first part is full is stored with one PUT; a longer one becomes a multipart upload, with one
 * part in flight while the next is filled. Two part buffers are reused for the whole upload, so
 * memory stays at about two parts whatever the length (and small blobs, under 1 MiB, never
 * allocate one). Each part is a Buffer, so every request (initiate, each part, complete) is
 * retried on its own, which a single streaming PUT could not be. On any failure or abort the
 * multipart upload is aborted, so no orphaned parts stay behind.
 *
 * minio's own `putObject` is not used for streams: without a known size it cuts ~528 MiB parts
 * and holds them in memory (measured: +333 MiB RSS for a 200 MiB stream), and it cannot retry.
 */
import { Writable, type Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { Logger } from "../log.js";
import type { S3Bucket } from "./s3-bucket.js";

/** S3 allows at most this many parts per upload. */
const MAX_PARTS = 10_000;
/** Streams shorter than this are gathered as they come, without a part buffer. */
const SMALL_BYTES = 1 << 20;

class PartUploader {
  readonly #etags: Array<{ part: number; etag: string }> = [];
  /** Part buffers whose upload finished, ready to be filled again. */
  readonly #free: Buffer[] = [];
  #uploadId: string | undefined;
  #inflight: Promise<void> | undefined;
  #parts = 0;

  constructor(
    readonly bucket: S3Bucket,
    readonly path: string,
    readonly what: string,
    readonly signal: AbortSignal | undefined,
  ) {}

  get parts(): number {
    return this.#parts;
  }

  /** A buffer of the part size to fill: a free one, else a new one (at most two exist). */
  takeBuffer(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bucket.partSizeBytes);
  }

  /** Starts uploading a part once the previous one is done; returns without waiting for it.
   *  `data` must not be changed until it is handed back by {@link takeBuffer}. */
  async part(data: Buffer, whole: Buffer = data): Promise<void> {
    await this.#inflight;
    throwIfAborted(this.signal);
    if (this.#parts >= MAX_PARTS)
      throw new StagefarmError(
        "invalid_argument",
        `${this.what}: the data is larger than ${MAX_PARTS} parts of ${this.bucket.partSizeBytes} bytes; use a larger S3 part size`,
      );
    const opts = { signal: this.signal };
    this.#uploadId ??= await this.bucket.initiateUpload(this.path, this.what, opts);
    const part = ++this.#parts;
    const upload = this.bucket
      .uploadPart(this.path, this.#uploadId, part, data, this.what, opts)
      .then((etag) => {
        this.#etags.push({ part, etag });
        this.#free.push(whole);
      });
    // Marked handled now; the failure is rethrown by the next part() or finish().
    upload.catch(() => undefined);
    this.#inflight = upload;
  }

  /** Stores `rest` (the bytes after the last full part) and makes the object visible. */
  async finish(rest: Buffer, whole: Buffer = rest): Promise<void> {
    if (this.#uploadId === undefined) {
      await this.bucket.putBuffer(this.path, rest, this.what, { signal: this.signal });
      return;
    }
    if (rest.length > 0) await this.part(rest, whole);
    await this.#inflight;
    throwIfAborted(this.signal);
    const etags = [...this.#etags].sort((a, b) => a.part - b.part);
    await this.bucket.completeUpload(this.path, this.#uploadId, etags, this.what, { signal: this.signal });
  }

  /** After a failure: waits for the part in flight, then aborts the multipart upload, if any. */
  async abort(): Promise<void> {
    try {
      await this.#inflight;
    } catch {
      // Already failed; the caller reports the first error.
    }
    if (this.#uploadId !== undefined) await this.bucket.abortUpload(this.path, this.#uploadId);
  }
}

/**
 * The end of the upload pipeline: copies incoming chunks into part buffers and hands full parts
 * to the uploader. A Writable, not an async iterator: iterating a byte stream joins its buffered
 * chunks into fresh buffers on every read, which is megabytes of garbage per part.
 */
class PartSink extends Writable {
  size = 0;
  readonly #uploader: PartUploader;
  readonly #partSize: number;
  readonly #head: Buffer[] = [];
  #buf: Buffer | undefined;
  #filled = 0;
  /** The chunk or final step being processed, so a failed upload can wait for it to stop. */
  #busy: Promise<void> = Promise.resolve();

  constructor(uploader: PartUploader) {
    super({ highWaterMark: 1 << 20 });
    this.#uploader = uploader;
    this.#partSize = uploader.bucket.partSizeBytes;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#busy = this.#add(chunk);
    void this.#busy.then(
      () => done(),
      (err: unknown) => done(StagefarmError.from(err)),
    );
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#busy = this.#finish();
    void this.#busy.then(
      () => done(),
      (err: unknown) => done(StagefarmError.from(err)),
    );
  }

  /** Resolves once no chunk is being processed any more (after a failure). */
  async idle(): Promise<void> {
    await this.#busy.catch(() => undefined);
  }

  async #add(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    let buf = this.#buf;
    if (buf === undefined) {
      if (this.size < SMALL_BYTES) {
        this.#head.push(chunk);
        return;
      }
      buf = this.#uploader.takeBuffer();
      for (const h of this.#head) this.#filled += h.copy(buf, this.#filled);
      this.#head.length = 0;
    }
    for (let at = 0; at < chunk.length;) {
      const n = chunk.copy(buf, this.#filled, at);
      at += n;
      this.#filled += n;
      if (this.#filled === this.#partSize) {
        await this.#uploader.part(buf);
        buf = this.#uploader.takeBuffer();
        this.#filled = 0;
      }
    }
    this.#buf = buf;
  }

  async #finish(): Promise<void> {
    const buf = this.#buf;
    if (buf === undefined) await this.#uploader.finish(Buffer.concat(this.#head, this.size));
    else await this.#uploader.finish(buf.subarray(0, this.#filled), buf);
  }
}

export interface UploadResult {
  size: number;
  /** 0 for a single PUT. */
  parts: number;
}

/**
 * Uploads `source` (passed through `through` first, e.g. a HashingTransform) to `path`. The
 * object is complete when this resolves; after a failure no multipart upload stays open.
 */
export async function uploadStream(
  bucket: S3Bucket,
  path: string,
  source: Readable,
  through: Transform | undefined,
  what: string,
  opts: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<UploadResult> {
  const uploader = new PartUploader(bucket, path, what, opts.signal);
  const sink = new PartSink(uploader);
  try {
    if (through === undefined) await pipeline(source, sink, { signal: opts.signal });
    else await pipeline(source, through, sink, { signal: opts.signal });
  } catch (err: unknown) {
    // pipeline() rejects as soon as a stream fails, while the sink may still be starting a part.
    await sink.idle();
    await uploader.abort();
    throw err;
  }
  const size = sink.size;
  if (uploader.parts > 0)
    opts.logger?.debug(
      { store: bucket.describe, path, size, parts: uploader.parts },
      "multipart upload complete",
    );
  return { size, parts: uploader.parts };
}
