/**
 * The download routes of the HTTP server (GET and HEAD; the viewer role, HTTP_RULES):
 *
 *   /api/v1/runs/{run}/stages/{stage}/outputs/{name}   an output (tree: its tar.zst)
 *   /api/v1/artifacts/{digest}                          a blob by sha256
 *
 * Headers: ETag is the quoted sha256 (a blob never changes, so it is a strong validator);
 * If-None-Match answers 304; one `Range: bytes=…` answers 206 with Content-Range, or 416 when
 * it lies past the end (If-Range with another validator serves the whole blob); several
 * ranges or a malformed header are ignored (200, whole). Content-Disposition names a file made
 * of the validated names only. `x-stagefarm-kind` says tree, file or blob, and
 * `x-stagefarm-sha256` the digest the client verifies against.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { StagefarmError } from "../../shared/errors.js";
import { parseRange } from "../dashboard/log-routes.js";
import { openBlobRange } from "./blob-range.js";
import { isDownloadPath, parseDownloadPath } from "./download-target.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { resolveDownload, type DownloadDeps, type ResolvedDownload } from "./resolve-download.js";

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((t) => {
    const v = t.trim().replace(/^W\//, "");
    return v === "*" || v === etag;
  });
}

/** Serves `path` if it is a download route; false when it is not one. */
export async function serveDownload(
  deps: DownloadDeps,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  if (!isDownloadPath(path)) return false;
  const target = parseDownloadPath(path);
  if (target === undefined) throw new StagefarmError("not_found", "no such download");
  if (req.method !== "GET" && req.method !== "HEAD")
    throw new StagefarmError("invalid_argument", "downloads are read with GET or HEAD");
  await sendBlob(deps.store, req, res, await resolveDownload(deps, target));
  return true;
}

/**
 * Answers a GET or HEAD for the blob `d` with the headers above (ETag, Range, 304, 416); also
 * the released files of ../releases/http.ts.
 */
export async function sendBlob(
  store: ArtifactStore,
  req: IncomingMessage,
  res: ServerResponse,
  d: ResolvedDownload,
): Promise<void> {
  const etag = `"${d.digest}"`;
  const headers: Record<string, string> = {
    etag,
    "accept-ranges": "bytes",
    "cache-control": "private, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
    "x-stagefarm-kind": d.kind,
    "x-stagefarm-sha256": d.digest,
  };
  if (etagMatches(req.headers["if-none-match"], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const ifRange = req.headers["if-range"];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, d.size) : undefined;
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...headers, "content-range": `bytes */${d.size}` });
    res.end();
    return;
  }
  const [start, end] = range ?? [0, d.size];
  res.writeHead(range === undefined ? 200 : 206, {
    ...headers,
    "content-type": "application/octet-stream",
    "content-disposition": `attachment; filename="${d.filename}"`,
    "content-length": String(end - start),
    ...(range === undefined ? {} : { "content-range": `bytes ${start}-${end - 1}/${d.size}` }),
  });
  if (req.method === "HEAD" || end === start) {
    res.end();
    return;
  }
  const abort = new AbortController();
  res.once("close", () => abort.abort());
  const body = await openBlobRange(store, d.digest, { start, end, size: d.size }, abort.signal);
  try {
    await pipeline(body, res);
  } catch (err: unknown) {
    // The headers are sent: a failure now (a client gone, a corrupt blob) can only cut the body.
    res.destroy();
    if (!abort.signal.aborted) throw StagefarmError.from(err);
  }
}
