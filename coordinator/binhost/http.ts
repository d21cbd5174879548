/**
 * Serves binhosts over HTTP so that portage can use them directly (binrepos.conf sync-uri =
 * `<base>/binhost/<name>`): `GET`/`HEAD /binhost/<name>/Packages`, `/Packages.gz` and every
 * package path, streamed from the store.
 *
 * - Path segments are URL-decoded (`%2B` is `+`; a literal `+` stays `+`: dev-libs/libsigc++).
 * - A path that does not exist, or that is not an index or a package (stagefarm.json, `..`,
 *   an encoded `/`), is 404. Never 403: portage drops the whole binhost on a 403.
 * - The index's `Last-Modified` is its TIMESTAMP (which grows with every write, unlike the
 *   store's mtime, which has one-second steps) and it is also sent as a `timestamp` header,
 *   the one portage compares with its cached copy. Portage does not send its cached TIMESTAMP
 *   as `If-Modified-Since` but TIMESTAMP + 5 s (`TIMESTAMP_TOLERANCE`, lib/portage/util/
 *   _urlopen.py), while consecutive writes may raise TIMESTAMP by 1: a 304 for "TIMESTAMP <=
 *   If-Modified-Since" would hide every write made within 5 s of the client's copy. So the
 *   index is 304 only when TIMESTAMP <= If-Modified-Since - 5 s ({@link indexNotModified}):
 *   for portage exactly when the index is the one it has. A client that sends the exact
 *   Last-Modified back gets a 200 (a download too many, never a stale index).
 *   Packages carry the object's mtime and the plain rule (they never change in place).
 * - With `redirect` and a store that can presign (S3), package paths answer 302 to a presigned
 *   URL; the index is always served here (its freshness is this server's answer).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StagefarmError } from "../../shared/errors.js";
import { excerpt } from "../../shared/util/excerpt.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { isBinhostName, isServedPath, objectPath } from "./paths.js";
import { timestampOf } from "./state.js";
import { errnoOf } from "../../shared/util/fs.js";

export interface BinhostHttpOptions {
  store: ArtifactStore;
  /** Answer package paths with a 302 to a presigned URL when the store offers them. */
  redirect?: boolean;
  /** Lifetime of presigned URLs (default 600 s). */
  presignExpirySeconds?: number;
}

function notFound(res: ServerResponse, what: string, head: boolean): void {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(head ? undefined : `not found: ${excerpt(what)}\n`);
}

/** The binhost name and the path below it, or undefined for anything that cannot be served. */
export function parseBinhostUrlPath(pathname: string): { name: string; rel: string } | undefined {
  const raw = pathname.split("/");
  if (raw[0] !== "" || raw[1] !== "binhost") return undefined;
  const segments: string[] = [];
  for (const s of raw.slice(2)) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      return undefined;
    }
    if (d === "" || d.includes("/") || d.includes("\\") || d === "." || d === "..") return undefined;
    segments.push(d);
  }
  const [name, ...rest] = segments;
  if (name === undefined || !isBinhostName(name)) return undefined;
  const rel = rest.join("/");
  return isServedPath(rel) ? { name, rel } : undefined;
}

/** The path of a request target as sent, without query or fragment (origin or absolute form). */
export function sentPath(target: string): string {
  const path = target.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, "");
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

function notModified(req: IncomingMessage, lastModifiedMs: number): boolean {
  const ims = req.headers["if-modified-since"];
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  return Number.isFinite(t) && Math.floor(lastModifiedMs / 1000) <= Math.floor(t / 1000);
}

/** Portage's TIMESTAMP_TOLERANCE: it sends If-Modified-Since = its cached TIMESTAMP + 5 s. */
export const PORTAGE_IMS_TOLERANCE_S = 5;

/** The index's 304 rule: TIMESTAMP at or before If-Modified-Since minus portage's tolerance. */
export function indexNotModified(req: IncomingMessage, timestamp: number): boolean {
  const ims = req.headers["if-modified-since"];
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  return Number.isFinite(t) && timestamp <= Math.floor(t / 1000) - PORTAGE_IMS_TOLERANCE_S;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>)
    chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

async function open(store: ArtifactStore, path: string): Promise<Readable | undefined> {
  try {
    return await store.getObject(path);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
}

/** Answers one request below /binhost/ (the caller routed it here). */
export async function serveBinhost(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  opts: BinhostHttpOptions,
): Promise<void> {
  const head = req.method === "HEAD";
  if (req.method !== "GET" && !head) {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("binhost paths answer GET and HEAD\n");
    return;
  }
  // The path as sent: URL parsing (the caller's `pathname`) has resolved `..` segments away.
  const target = parseBinhostUrlPath(sentPath(req.url ?? ""));
  if (target === undefined) return notFound(res, pathname, head);
  const { store } = opts;
  const path = objectPath(target.name, target.rel);

  if (target.rel === "Packages" || target.rel === "Packages.gz") {
    const gz = target.rel === "Packages.gz";
    const stream = await open(store, path);
    if (stream === undefined) return notFound(res, pathname, head);
    const body = await readAll(stream);
    let ts: number | undefined;
    try {
      ts = timestampOf(body, gz);
    } catch {
      ts = undefined;
    }
    const lastModifiedMs =
      ts !== undefined ? ts * 1000 : ((await store.statObject(path))?.mtime ?? new Date(0)).valueOf();
    const headers: Record<string, string> = {
      "last-modified": new Date(lastModifiedMs).toUTCString(),
      "cache-control": "no-cache",
      ...(ts === undefined ? {} : { timestamp: String(ts) }),
    };
    if (indexNotModified(req, Math.floor(lastModifiedMs / 1000))) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      "content-type": gz ? "application/gzip" : "text/plain; charset=utf-8",
      "content-length": String(body.length),
    });
    res.end(head ? undefined : body);
    return;
  }

  const st = await store.statObject(path);
  if (st === undefined) return notFound(res, pathname, head);
  const url =
    opts.redirect === true ? await store.presignObject?.(path, opts.presignExpirySeconds ?? 600) : undefined;
  if (url !== undefined) {
    res.writeHead(302, { location: url, "cache-control": "no-store" });
    res.end();
    return;
  }
  const mtimeMs = st.mtime.valueOf();
  const headers = {
    "last-modified": new Date(mtimeMs).toUTCString(),
    "content-type": target.rel.endsWith(".gpkg.tar") ? "application/x-tar" : "application/octet-stream",
  };
  if (notModified(req, mtimeMs)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  if (head) {
    res.writeHead(200, { ...headers, "content-length": String(st.size) });
    res.end();
    return;
  }
  const stream = await open(store, path);
  if (stream === undefined) return notFound(res, pathname, head);
  res.writeHead(200, { ...headers, "content-length": String(st.size) });
  try {
    await pipeline(stream, res);
  } catch (err: unknown) {
    // The client went away: nothing to report. A store failure mid-stream cuts the connection
    // (the client sees a body shorter than its Content-Length) and is logged by the server.
    if (errnoOf(err) === "ERR_STREAM_PREMATURE_CLOSE") return;
    throw err;
  }
}
