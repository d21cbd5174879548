/**
 * Value rules shared by the parser and the resolver: names, workspace paths, env names,
 * platforms, URLs and sha256 pins. Each `…Problem` function returns what is wrong, or undefined.
 */
import { posix } from "node:path";
import { isDigest } from "../digest.js";

/** Stage, input, output and param names. */
export const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLATFORM_RE = /^[a-z0-9_.-]+(\/[a-z0-9_.-]+)+$/;
const URL_SCHEMES = new Set(["http:", "https:", "ftp:", "file:"]);

export function nameProblem(name: string): string | undefined {
  if (NAME_RE.test(name)) return undefined;
  return `invalid name "${name}" (use lowercase letters, digits, "_" and "-", starting with a letter or digit)`;
}

/** Workspace-relative paths: relative, normalised, no `..`. */
export function pathProblem(path: string): string | undefined {
  if (path.length === 0) return "path must not be empty";
  if (path.includes("\0")) return `path "${path}" must not contain a NUL byte`;
  if (path.startsWith("/")) return `path "${path}" must be relative to the workspace, not absolute`;
  const parts = path.split("/");
  if (parts.includes("..")) return `path "${path}" must not contain ".." components`;
  if (path === ".") return `path "." would be the whole workspace; name a directory or file inside it`;
  if (parts.some((p) => p === "" || p === ".")) {
    const fixed = posix.normalize(path).replace(/\/+$/, "");
    return `path "${path}" is not normalised (no "." or empty components, no trailing "/"); write "${fixed}"`;
  }
  return undefined;
}

export function envNameProblem(name: string): string | undefined {
  if (ENV_NAME_RE.test(name)) return undefined;
  return `invalid environment variable name "${name}" (use letters, digits and "_", not starting with a digit)`;
}

export function platformProblem(platform: string): string | undefined {
  if (PLATFORM_RE.test(platform)) return undefined;
  return `invalid platform "${platform}" (expected os/arch in lowercase, e.g. linux/x86_64)`;
}

export function urlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `invalid url "${url}"`;
  }
  if (!URL_SCHEMES.has(parsed.protocol))
    return `url "${url}" has unsupported scheme "${parsed.protocol}" (use http, https, ftp or file)`;
  return undefined;
}

export function sha256Problem(hex: string): string | undefined {
  const shown: string = hex; // isDigest narrows `hex` to never below
  if (isDigest(hex)) return undefined;
  return `invalid sha256 "${shown}" (expected 64 lowercase hex characters)`;
}

/** Agent labels in `requires`: non-empty, no whitespace. */
export function labelProblem(label: string): string | undefined {
  if (label.length > 0 && !/\s/.test(label)) return undefined;
  return `invalid label "${label}" (labels are non-empty and contain no whitespace)`;
}
