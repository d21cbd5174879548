/**
 * A Writable that hashes what it is given and writes it to an open file, flushing to disk as
 * it goes: every {@link FLUSH_EVERY_BYTES} a `fdatasync` starts in the background (at most one
 * at a time), so the final `fsync` only has the tail left to write instead of the whole file.
 * On this kind of machine that turns a seconds-long stall after a large archive into almost
 * nothing (the kernel otherwise keeps gigabytes dirty until asked).
 */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import type { Digest } from "../digest.js";
import { StagefarmError } from "../errors.js";

const FLUSH_EVERY_BYTES = 32 << 20;

export class HashingFileSink extends Writable {
  readonly #fh: FileHandle;
  readonly #hash = createHash("sha256");
  #size = 0;
  #sinceFlush = 0;
  /** The background fdatasync in flight; it never rejects (a failure is kept in #flushError). */
  #flushing: Promise<void> | undefined;
  #flushError: StagefarmError | undefined;

  constructor(fh: FileHandle) {
    super({ highWaterMark: 1 << 20 });
    this.#fh = fh;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#writeAll(chunk).then(
      () => cb(),
      (err: unknown) => cb(StagefarmError.from(err)),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await this.#flushing;
      this.#throwIfFlushFailed();
      await this.#fh.sync();
    })().then(
      () => cb(),
      (err: unknown) => cb(StagefarmError.from(err)),
    );
  }

  get size(): number {
    return this.#size;
  }

  /** The sha256 of everything written; call once, after the stream finished. */
  digest(): Digest {
    return this.#hash.digest("hex");
  }

  #throwIfFlushFailed(): void {
    if (this.#flushError !== undefined) throw this.#flushError;
  }

  async #writeAll(chunk: Buffer): Promise<void> {
    this.#throwIfFlushFailed();
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.#fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
    this.#sinceFlush += chunk.length;
    if (this.#sinceFlush >= FLUSH_EVERY_BYTES && this.#flushing === undefined) {
      this.#sinceFlush = 0;
      // Linux reports a writeback error once per file: a failed flush must fail this stream
      // (at the next write or at the end), since the final fsync may no longer see it.
      this.#flushing = this.#fh.datasync().then(
        () => {
          this.#flushing = undefined;
        },
        (err: unknown) => {
          this.#flushing = undefined;
          this.#flushError ??= StagefarmError.from(err);
        },
      );
    }
  }
}
