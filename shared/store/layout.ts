/**
 * Store layout keys, shared by every ArtifactStore implementation (the same keys on disk and in
 * S3), and validation of the caller-supplied parts of them (digests, cache keys, log paths).
 */
import { assertDigest, type Digest } from "../digest.js";
import { StagefarmError } from "../errors.js";
import type { ByteRange } from "./types.js";

/** The layout key of a blob: `cas/sha256/<first 2 hex>/<digest>`. */
export function blobPath(digest: Digest): string {
  assertDigest(digest, "blob digest");
  return `cas/sha256/${digest.slice(0, 2)}/${digest}`;
}

/** The layout key of an action-cache manifest: `ac/<cache-key>.json`. */
export function manifestPath(key: Digest): string {
  assertDigest(key, "cache key");
  return `ac/${key}.json`;
}

export const LOGS_PREFIX = "logs/";

/** Checks a byte range (whole non-negative numbers); no range is the whole log. */
export function checkRange(range: ByteRange | undefined): ByteRange {
  const r = range ?? { start: 0 };
  const ok = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!ok(r.start) || (r.end !== undefined && !ok(r.end)))
    throw new StagefarmError(
      "invalid_argument",
      `invalid byte range ${r.start}-${r.end ?? ""}: offsets are whole numbers from 0`,
    );
  return r;
}

/**
 * Checks a log path: a store path under `logs/` made of non-empty segments, none of them `.`
 * or `..`, no backslashes or NUL bytes. Returns it unchanged.
 */
export function assertLogPath(path: string): string {
  const bad = (why: string): StagefarmError =>
    new StagefarmError("invalid_argument", `invalid log path "${path}": ${why}`, { details: { path } });
  if (!path.startsWith(LOGS_PREFIX))
    throw bad(`it must be a relative store path starting with "${LOGS_PREFIX}"`);
  if (path.includes("\\") || path.includes("\0")) throw bad("it must not contain backslashes or NUL bytes");
  const segments = path.slice(LOGS_PREFIX.length).split("/");
  if (segments.some((s) => s === "")) throw bad("it has an empty segment (a doubled or trailing '/')");
  if (segments.some((s) => s === "." || s === "..")) throw bad("'.' and '..' segments are not allowed");
  return path;
}

/**
 * Checks a log listing prefix: `logs/` or a store path below it (it may end in '/' or be a
 * partial name). `..` and `.` segments are refused.
 */
export function assertLogPrefix(prefix: string): string {
  if (prefix === "logs" || prefix === LOGS_PREFIX) return LOGS_PREFIX;
  if (!prefix.startsWith(LOGS_PREFIX) || prefix.includes("\\") || prefix.includes("\0"))
    throw new StagefarmError(
      "invalid_argument",
      `invalid log prefix "${prefix}": it must start with "${LOGS_PREFIX}"`,
    );
  const segments = prefix.slice(LOGS_PREFIX.length).split("/");
  if (segments.some((s) => s === "." || s === ".."))
    throw new StagefarmError(
      "invalid_argument",
      `invalid log prefix "${prefix}": '.' and '..' segments are not allowed`,
    );
  return prefix;
}
