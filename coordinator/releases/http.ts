/**
 * Serves the release tree read-only over HTTP, like a Gentoo mirror's `releases/` (GET and HEAD,
 * anonymous by default like the binhost):
 *
 *   /releases/<arch>/autobuilds/latest-<name>.txt
 *   /releases/<arch>/autobuilds/<stamp>/<file>          the released file (a CAS blob: ETag, Range)
 *   /releases/<arch>/autobuilds/<stamp>/<file>.DIGESTS  its companions (.CONTENTS.gz, .asc)
 *
 * The path is read as sent (URL parsing would have resolved `..` away), each segment decoded
 * once and checked against the grammar of what it names (shared/release/layout.ts
 * parseServedPath); the store path is built from those names, never taken from the URL. Anything
 * else — a dot segment, an encoded `/`, stagefarm's own records under `.stagefarm/` — is 404.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { StagefarmError } from "../../shared/errors.js";
import {
  filePath,
  latestPath,
  parseServedPath,
  readFileRecord,
  type ServedRelease,
} from "../../shared/release/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import { sentPath } from "../binhost/http.js";
import { sendBlob } from "../downloads/index.js";
import { errnoOf } from "../../shared/util/fs.js";

export const RELEASES_ROUTE = "/releases/";

function notFound(res: ServerResponse, what: string, head: boolean): void {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(head ? undefined : `not found: ${excerpt(what)}\n`);
}

/** What a request target below /releases/ names, or undefined. */
export function parseReleaseUrlPath(path: string): ServedRelease | undefined {
  if (!path.startsWith(RELEASES_ROUTE) || path.length > 1024) return undefined;
  const segments: string[] = [];
  for (const raw of path.slice(RELEASES_ROUTE.length).split("/")) {
    let d: string;
    try {
      d = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (d === "" || d.includes("/") || d.includes("\\") || d.startsWith(".")) return undefined;
    segments.push(d);
  }
  return parseServedPath(segments);
}

function contentType(file: string): string {
  if (file.endsWith(".txt") || file.endsWith(".DIGESTS")) return "text/plain; charset=utf-8";
  if (file.endsWith(".asc")) return "application/pgp-signature";
  if (file.endsWith(".gz")) return "application/gzip";
  return "application/octet-stream";
}

async function sendObject(
  store: ArtifactStore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  fresh: boolean,
): Promise<boolean> {
  const st = await store.statObject(path);
  if (st === undefined) return false;
  const headers = {
    "content-type": contentType(path),
    "content-length": String(st.size),
    "last-modified": st.mtime.toUTCString(),
    "cache-control": fresh ? "no-cache" : "public, max-age=3600",
    "x-content-type-options": "nosniff",
  };
  if (req.method === "HEAD") {
    res.writeHead(200, headers);
    res.end();
    return true;
  }
  let body;
  try {
    body = await store.getObject(path);
  } catch (err: unknown) {
    if (StagefarmError.from(err).code === "not_found") return false;
    throw err;
  }
  res.writeHead(200, headers);
  try {
    await pipeline(body, res);
  } catch (err: unknown) {
    // Headers are sent: a client gone or a store failure can only cut the body.
    res.destroy();
    if (errnoOf(err) !== "ERR_STREAM_PREMATURE_CLOSE") throw StagefarmError.from(err);
  }
  return true;
}

/** Answers one request below /releases/ (the caller routed it here). */
export async function serveReleases(
  store: ArtifactStore,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const head = req.method === "HEAD";
  if (req.method !== "GET" && !head) {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("release paths answer GET and HEAD\n");
    return;
  }
  const sent = sentPath(req.url ?? "");
  const target = parseReleaseUrlPath(sent);
  if (target === undefined) return notFound(res, sent, head);
  if (target.t === "latest") {
    if (!(await sendObject(store, req, res, latestPath(target.arch, target.name), true)))
      notFound(res, sent, head);
    return;
  }
  const rec = await readFileRecord(store, target.arch, target.stamp, target.file);
  if (rec !== undefined)
    return sendBlob(store, req, res, {
      digest: rec.digest,
      size: rec.size,
      kind: "release",
      filename: target.file,
    });
  if (!(await sendObject(store, req, res, filePath(target.arch, target.stamp, target.file), false)))
    notFound(res, sent, head);
}
