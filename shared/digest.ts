import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { StagefarmError } from "./errors.js";

/** A sha256 digest in lowercase hex (64 chars). The only digest algorithm stagefarm uses. */
export type Digest = string;

const DIGEST_RE = /^[0-9a-f]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function assertDigest(s: string, what = "digest"): Digest {
  if (!isDigest(s))
    throw new StagefarmError(
      "invalid_argument",
      `${what} must be 64 lowercase hex characters (sha256), got "${s}"`,
    );
  return s;
}

export function sha256(data: string | Uint8Array): Digest {
  return createHash("sha256").update(data).digest("hex");
}

/** Streams a file through sha256 with 1 MiB reads (Node hashes ~1 GiB/s at that size). */
export async function sha256File(
  path: string,
  signal?: AbortSignal,
): Promise<{ digest: Digest; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  const stream = createReadStream(path, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: h.digest("hex"), size };
}
