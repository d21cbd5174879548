/**
 * Streaming digests. A gpkg member gets the Manifest's hashes (BLAKE2B = BLAKE2b-512, SHA512)
 * and its size; the whole package file gets the index's MD5 and SHA1, plus SHA256 and its
 * size. Nothing is buffered.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** Manifest hash names (GLEP 74) → node's algorithm. */
export const MANIFEST_HASHES: ReadonlyMap<string, string> = new Map([
  ["BLAKE2B", "blake2b512"],
  ["SHA512", "sha512"],
]);

export interface MemberDigests {
  size: number;
  /** Manifest hash name → lowercase hex. */
  hashes: Map<string, string>;
}

export class MemberHasher {
  private readonly hashes = new Map<string, Hash>();
  private size = 0;

  constructor() {
    for (const [name, algo] of MANIFEST_HASHES) this.hashes.set(name, createHash(algo));
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    for (const h of this.hashes.values()) h.update(chunk);
  }

  digest(): MemberDigests {
    const hashes = new Map<string, string>();
    for (const [name, h] of this.hashes) hashes.set(name, h.digest("hex"));
    return { size: this.size, hashes };
  }
}

export function memberDigestsOf(data: Uint8Array): MemberDigests {
  const h = new MemberHasher();
  h.update(data);
  return h.digest();
}

export interface FileDigests {
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
}

/** A pass-through stream that digests every byte of the package file. */
export class FileHasher extends Transform {
  private readonly md5 = createHash("md5");
  private readonly sha1 = createHash("sha1");
  private readonly sha256 = createHash("sha256");
  private size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.update(chunk);
    cb(null, chunk);
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    this.md5.update(chunk);
    this.sha1.update(chunk);
    this.sha256.update(chunk);
  }

  /** Call once, after the last byte. */
  digests(): FileDigests {
    return {
      size: this.size,
      md5: this.md5.digest("hex"),
      sha1: this.sha1.digest("hex"),
      sha256: this.sha256.digest("hex"),
    };
  }
}
