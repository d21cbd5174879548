/**
 * Where a binhost lives in the artifact store and which of its paths may be served.
 *
 *   binhost/<name>/Packages          the index portage reads
 *   binhost/<name>/Packages.gz       the same, gzip-compressed
 *   binhost/<name>/stagefarm.json    stagefarm's own record (./meta.ts), never served
 *   binhost/<name>/<category>/<PN>/<PF>-<BUILD_ID>.gpkg.tar   (xpak: .xpak)
 */
import { StagefarmError } from "../../shared/errors.js";

export const BINHOST_PREFIX = "binhost/";
const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;
/** A path segment of a package path: portage's category, PN and PF characters. */
const SEGMENT_RE = /^[A-Za-z0-9+_.-]+$/;
const PACKAGE_SUFFIXES = [".gpkg.tar", ".xpak", ".tbz2"] as const;

export function isBinhostName(name: string): boolean {
  return NAME_RE.test(name) && name.length <= 64;
}

export function assertBinhostName(name: string): string {
  if (!isBinhostName(name))
    throw new StagefarmError(
      "invalid_argument",
      `"${name}" is not a binhost name (lowercase letters, digits, _ and -, at most 64)`,
    );
  return name;
}

export const indexPath = (name: string): string => `${BINHOST_PREFIX}${name}/Packages`;
export const indexGzPath = (name: string): string => `${BINHOST_PREFIX}${name}/Packages.gz`;
export const metaPath = (name: string): string => `${BINHOST_PREFIX}${name}/stagefarm.json`;
/** Store path of a package path (the index's PATH) of binhost `name`. */
export const objectPath = (name: string, pkgPath: string): string => `${BINHOST_PREFIX}${name}/${pkgPath}`;

/** Whether `rel` (below binhost/<name>/) is a package file path: `<category>/<PN>/<file>` with a package suffix. */
export function isPackagePath(rel: string): boolean {
  const parts = rel.split("/");
  if (parts.length < 2 || parts.length > 3) return false;
  if (!parts.every((p) => SEGMENT_RE.test(p) && p !== "." && p !== "..")) return false;
  return PACKAGE_SUFFIXES.some((s) => rel.endsWith(s));
}

/** Whether `rel` (below binhost/<name>/) is something the HTTP server may answer for. */
export function isServedPath(rel: string): boolean {
  return rel === "Packages" || rel === "Packages.gz" || isPackagePath(rel);
}
