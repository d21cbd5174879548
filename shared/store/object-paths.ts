/**
 * Paths of plain store objects, shared by every ArtifactStore implementation: binhost files
 * (`binhost/<name>/<file…>`), released files' companions and pointers (`releases/…`, see
 * shared/release/layout.ts) and the coordinator's stage statistics (`stats/<file>`).
 *
 * An object path is a store path under one of those prefixes: '/'-separated
 * non-empty segments, none `.` or `..`, no backslash, NUL or other control character. Any
 * other character is allowed, `+` included (`dev-libs/libsigc++/…`). The same string is the
 * file path below the filesystem store's root and the S3 key below the bucket prefix.
 */
import { StagefarmError } from "../errors.js";

export const BINHOST_PREFIX = "binhost/";
export const STATS_PREFIX = "stats/";
export const RELEASES_PREFIX = "releases/";

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\\\u0000-\u001f\u007f]/;

function badSegments(rest: string, allowPartialLast: boolean): string | undefined {
  const segments = rest.split("/");
  if (FORBIDDEN.test(rest)) return "it must not contain backslashes or control characters";
  if (segments.some((s) => s === "." || s === "..")) return "'.' and '..' segments are not allowed";
  const inner = allowPartialLast ? segments.slice(0, -1) : segments;
  if (inner.some((s) => s === "")) return "it has an empty segment (a doubled, leading or trailing '/')";
  return undefined;
}

/** Checks an object path: `binhost/<name>/<file…>`, normalised (see the module comment). */
export function assertObjectPath(path: string): string {
  const bad = (why: string): StagefarmError =>
    new StagefarmError("invalid_argument", `invalid object path "${path}": ${why}`, {
      details: { path },
    });
  if (path.startsWith(STATS_PREFIX)) {
    const rest = path.slice(STATS_PREFIX.length);
    const why =
      badSegments(rest, false) ??
      (rest.includes("/") ? "stats records are files directly under stats/" : undefined);
    if (why !== undefined) throw bad(why);
    return path;
  }
  if (path.startsWith(RELEASES_PREFIX)) {
    const rest = path.slice(RELEASES_PREFIX.length);
    const why =
      badSegments(rest, false) ?? (rest.includes("/") ? undefined : "it must name a file below releases/");
    if (why !== undefined) throw bad(why);
    return path;
  }
  if (!path.startsWith(BINHOST_PREFIX))
    throw bad(
      `it must be a relative store path starting with "${BINHOST_PREFIX}", "${RELEASES_PREFIX}" or "${STATS_PREFIX}"`,
    );
  const rest = path.slice(BINHOST_PREFIX.length);
  const why = badSegments(rest, false);
  if (why !== undefined) throw bad(why);
  if (!rest.includes("/"))
    throw bad(`it must name a file inside a binhost: "${BINHOST_PREFIX}<name>/<file>"`);
  return path;
}

/**
 * Checks an object listing prefix: `binhost/` or a store path below it that may end in '/' or
 * be a partial name. Returns the prefix (`binhost` alone becomes `binhost/`).
 */
export function assertObjectPrefix(prefix: string): string {
  if (prefix === "binhost" || prefix === BINHOST_PREFIX) return BINHOST_PREFIX;
  if (prefix === "stats" || prefix === STATS_PREFIX) return STATS_PREFIX;
  if (prefix === "releases" || prefix === RELEASES_PREFIX) return RELEASES_PREFIX;
  const under = [BINHOST_PREFIX, RELEASES_PREFIX].find((p) => prefix.startsWith(p));
  const why =
    under !== undefined
      ? badSegments(prefix.slice(under.length), true)
      : `it must start with "${BINHOST_PREFIX}" or "${RELEASES_PREFIX}"`;
  if (why !== undefined)
    throw new StagefarmError("invalid_argument", `invalid object prefix "${prefix}": ${why}`, {
      details: { prefix },
    });
  return prefix;
}
