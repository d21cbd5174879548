/**
 * Value rules shared by the parser and the resolver: names, workspace paths, env names,
 * platforms, URLs and sha256 pins. Each `…Problem` function returns what is wrong, or undefined.
 */
import { posix } from "node:path";
import { isDigest } from "../digest.js";
import { quoted } from "../util/excerpt.js";
import { hasUserinfo, redactUrl } from "../util/redact-url.js";

/** Stage, input, output and param names. */
export const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLATFORM_RE = /^[a-z0-9_.-]+(\/[a-z0-9_.-]+)+$/;
/** The URL schemes a pinned source may use: the parser and the fetch runner both use this list. */
export const SOURCE_URL_SCHEMES = ["http:", "https:", "file:"] as const;
/**
 * Keys every JavaScript object answers to: as a key of user data (env, params, `with:` maps)
 * they would be dropped (`__proto__`) or shadow a built-in, so they are refused everywhere.
 */
export const RESERVED_KEYS = ["__proto__", "constructor", "prototype"] as const;

export function reservedKeyProblem(key: string): string | undefined {
  return (RESERVED_KEYS as readonly string[]).includes(key)
    ? `the key ${quoted(key)} is reserved (${RESERVED_KEYS.join(", ")} name built-in properties of objects); rename it`
    : undefined;
}

export function nameProblem(name: string): string | undefined {
  if (NAME_RE.test(name)) return undefined;
  return `invalid name ${quoted(name, 60)} (use lowercase letters, digits, "_" and "-", starting with a letter or digit)`;
}

/** Longest workspace-relative path (Linux's PATH_MAX is 4096 bytes, the workspace's own included). */
export const MAX_PATH_CHARS = 1024;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0001-\u001f\u007f]/;

/** Workspace-relative paths: relative, normalised, no `..`, no control characters, bounded. */
export function pathProblem(path: string): string | undefined {
  if (path.length === 0) return "path must not be empty";
  if (path.length > MAX_PATH_CHARS)
    return `path ${quoted(path, 60)} is longer than ${MAX_PATH_CHARS} characters`;
  if (path.includes("\0")) return `path ${quoted(path)} must not contain a NUL byte`;
  if (CONTROL_CHARS.test(path)) return `path ${quoted(path)} must not contain control characters`;
  if (path.startsWith("/")) return `path ${quoted(path)} must be relative to the workspace, not absolute`;
  const parts = path.split("/");
  if (parts.includes("..")) return `path ${quoted(path)} must not contain ".." components`;
  if (path === ".") return `path "." would be the whole workspace; name a directory or file inside it`;
  if (parts.some((p) => p === "" || p === ".")) {
    const fixed = posix.normalize(path).replace(/\/+$/, "");
    return `path ${quoted(path)} is not normalised (no "." or empty components, no trailing "/"); write ${quoted(fixed)}`;
  }
  return undefined;
}

export function envNameProblem(name: string): string | undefined {
  if (ENV_NAME_RE.test(name)) return undefined;
  return `invalid environment variable name ${quoted(name, 60)} (use letters, digits and "_", not starting with a digit)`;
}

export function platformProblem(platform: string): string | undefined {
  if (PLATFORM_RE.test(platform)) return undefined;
  return `invalid platform ${quoted(platform, 60)} (expected os/arch in lowercase, e.g. linux/x86_64)`;
}

/**
 * A pinned source's URL: one of {@link SOURCE_URL_SCHEMES}, and no user or password in it (they
 * would be stored in the pipeline, the cache key, the run record and every log line naming
 * the URL). Messages show the URL redacted.
 */
export function urlProblem(url: string): string | undefined {
  const shown = quoted(redactUrl(url), 200);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `invalid url ${shown}`;
  }
  const schemes: readonly string[] = SOURCE_URL_SCHEMES;
  if (!schemes.includes(parsed.protocol))
    return `url ${shown} has unsupported scheme ${quoted(parsed.protocol, 20)} (use ${SOURCE_URL_SCHEMES.map((s) => s.slice(0, -1)).join(", ")})`;
  if (hasUserinfo(parsed))
    return `url ${shown} carries a user name or password, which would be stored in the pipeline, the cache key and the logs; fetch from a URL that needs none, or put the file into the store (\`stagefarm import FILE\`) and use it as an input with "artifact: <digest>"`;
  return undefined;
}

export function sha256Problem(hex: string): string | undefined {
  const shown: string = hex; // isDigest narrows `hex` to never below
  if (isDigest(hex)) return undefined;
  return `invalid sha256 ${quoted(shown, 80)} (expected 64 lowercase hex characters)`;
}

/** Agent labels in `requires`: non-empty, no whitespace. */
export function labelProblem(label: string): string | undefined {
  if (label.length > 0 && !/\s/.test(label)) return undefined;
  return `invalid label ${quoted(label, 60)} (labels are non-empty and contain no whitespace)`;
}

/** A release name (`stage3-amd64-openrc`); shared/release names its files and pointers with it. */
export const RELEASE_NAME_RE = /^[a-z0-9][a-z0-9_+-]{0,127}$/;

/** Problem with a release pointer's name as a pipeline or a user writes it (`latest-` optional). */
export function releaseNameProblem(text: string): string | undefined {
  const name = text.startsWith("latest-") ? text.slice("latest-".length) : text;
  return RELEASE_NAME_RE.test(name)
    ? undefined
    : `invalid release name "${text.slice(0, 140)}" (lowercase letters, digits, _, + and -, at most 128, optionally after "latest-")`;
}
