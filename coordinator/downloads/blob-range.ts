/**
 * Bytes `[start, end)` of a blob as a stream. The store port has no ranged blob read, so the
 * blob is read from its start and the bytes before `start` are skipped (a resumed multi-GiB
 * download costs the store a read of the skipped part, not a transfer to the client). A whole
 * read keeps the store's verification: a corrupt blob errors at its end.
 */
import { Readable } from "node:stream";
import type { Digest } from "../../shared/digest.js";
import type { ArtifactStore } from "../../shared/store/index.js";

async function* sliced(src: AsyncIterable<Buffer>, start: number, end: number): AsyncGenerator<Buffer> {
  let pos = 0;
  for await (const chunk of src) {
    const from = Math.max(start - pos, 0);
    const to = Math.min(end - pos, chunk.length);
    pos += chunk.length;
    if (to > from) yield chunk.subarray(from, to);
    if (pos >= end) return;
  }
}

export async function openBlobRange(
  store: ArtifactStore,
  digest: Digest,
  range: { start: number; end: number; size: number },
  signal: AbortSignal,
): Promise<Readable> {
  const body = await store.getBlob(digest, signal);
  if (range.start === 0 && range.end === range.size) return body;
  const out = Readable.from(sliced(body as AsyncIterable<Buffer>, range.start, range.end), {
    objectMode: false,
  });
  out.once("close", () => body.destroy());
  return out;
}
