/**
 * Streams that hash the bytes passing through them: one to learn a digest while writing, one
 * to check a digest while reading (it errors at the end instead of finishing cleanly when the
 * bytes do not match, so a consumer never sees a mismatched blob end as good).
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { Digest } from "../digest.js";
import { StagefarmError } from "../errors.js";

/** Passes bytes through unchanged, counting and hashing them. Read `digest()` after the end. */
export class HashingTransform extends Transform {
  readonly #hash: Hash = createHash("sha256");
  #size = 0;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    cb(null, chunk);
  }

  get size(): number {
    return this.#size;
  }

  /** The sha256 of everything that passed; call once, after the stream ended. */
  digest(): Digest {
    return this.#hash.digest("hex");
  }
}

/**
 * Passes bytes through and, at the end, errors with `corrupt_artifact` if they do not hash to
 * `expected`. `describe` names the store in the message.
 */
export class VerifyingTransform extends Transform {
  readonly #hash: Hash = createHash("sha256");
  #size = 0;

  constructor(
    readonly expected: Digest,
    readonly describe: string,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual = this.#hash.digest("hex");
    if (actual === this.expected) cb();
    else cb(corruptBlobError(this.expected, actual, this.describe));
  }

  get size(): number {
    return this.#size;
  }
}

export function corruptBlobError(digest: Digest, actual: Digest, store: string): StagefarmError {
  return new StagefarmError(
    "corrupt_artifact",
    `artifact ${digest} in ${store} is corrupt: content hashes to ${actual}`,
    { details: { digest, actual, store } },
  );
}

export function digestMismatchError(
  expected: Digest,
  actual: Digest,
  size: number,
  store: string,
): StagefarmError {
  return new StagefarmError(
    "digest_mismatch",
    `blob does not match its expected digest: expected ${expected}, got ${actual} (${size} bytes); nothing was stored in ${store}`,
    { details: { expected, actual, size, store } },
  );
}
