/**
 * A download as a stream of messages (the gRPC GetArtifact call): the resolved blob first, then
 * its bytes from `offset` on, in chunks of at most 1 MiB (gRPC's default message limit is 4 MiB).
 */
import { StagefarmError } from "../../shared/errors.js";
import { openBlobRange } from "./blob-range.js";
import type { DownloadTarget } from "./download-target.js";
import { resolveDownload, type DownloadDeps, type ResolvedDownload } from "./resolve-download.js";

const CHUNK = 1 << 20;

export type ArtifactPart = { t: "info"; info: ResolvedDownload } | { t: "data"; data: Uint8Array };

export async function* artifactStream(
  deps: DownloadDeps,
  target: DownloadTarget,
  offset: number,
  signal: AbortSignal,
): AsyncGenerator<ArtifactPart> {
  const info = await resolveDownload(deps, target);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > info.size)
    throw new StagefarmError("invalid_argument", `offset ${offset} is past the end (${info.size} bytes)`);
  yield { t: "info", info };
  if (offset === info.size) return;
  const body = await openBlobRange(
    deps.store,
    info.digest,
    { start: offset, end: info.size, size: info.size },
    signal,
  );
  try {
    for await (const chunk of body as AsyncIterable<Buffer>)
      for (let i = 0; i < chunk.length; i += CHUNK) yield { t: "data", data: chunk.subarray(i, i + CHUNK) };
  } finally {
    body.destroy();
  }
}
