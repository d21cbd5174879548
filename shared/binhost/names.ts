/**
 * Package names as portage splits them (PMS 3.1: category, package name, version) and the
 * binpkg-multi-instance file layout of a binhost: `<category>/<PN>/<PF>-<BUILD_ID>.gpkg.tar`.
 *
 * splitPf follows portage's `catpkgsplit`: the package name is the shortest prefix after which
 * `-<version>[-r<N>]` ends the string, and a name that itself ends in `-<version>` is refused
 * (so `foo-1-2` is invalid, while `libsigc++-2.12.1-r1` is `libsigc++` + `2.12.1-r1`).
 */
import { StagefarmError } from "../errors.js";

const CATEGORY = /^[A-Za-z0-9_][A-Za-z0-9_+.-]*$/;
const VERSION = String.raw`\d+(?:\.\d+)*[a-z]?(?:_(?:pre|p|beta|alpha|rc)\d*)*`;
const VERSION_REV = String.raw`${VERSION}(?:-r\d+)?`;
/** pn (lazy), a forbidden version-like tail of pn, then the version and revision. */
const PF = new RegExp(
  String.raw`^(?<pn>[A-Za-z0-9_][A-Za-z0-9_+-]*?)(?<inval>-${VERSION_REV})?-(?<version>${VERSION_REV})$`,
);

export type BinpkgExtension = "gpkg.tar" | "xpak";

function bad(message: string, details: Record<string, unknown>): StagefarmError {
  return new StagefarmError("invalid_argument", message, { details });
}

/** Whether `category` is a valid category name (PMS 3.1.1). */
export function isCategory(category: string): boolean {
  return CATEGORY.test(category);
}

/** Splits a PF (`<PN>-<PV>[-r<N>]`) into the package name and the version with its revision. */
export function splitPf(pf: string): { pn: string; version: string } {
  const m = PF.exec(pf);
  const pn = m?.groups?.pn;
  const version = m?.groups?.version;
  if (pn === undefined || version === undefined || m?.groups?.inval !== undefined)
    throw bad(`"${pf}" is not a valid package name and version (<PN>-<PV>[-r<N>])`, { pf });
  return { pn, version };
}

/** The binpkg-multi-instance path of a package: `<category>/<PN>/<PF>-<BUILD_ID>.<ext>`. */
export function packagePath(
  category: string,
  pn: string,
  pf: string,
  buildId: number,
  ext: BinpkgExtension,
): string {
  if (!isCategory(category)) throw bad(`"${category}" is not a valid category name`, { category });
  if (splitPf(pf).pn !== pn) throw bad(`PF "${pf}" does not belong to package "${pn}"`, { pn, pf });
  if (!Number.isSafeInteger(buildId) || buildId < 1)
    throw bad(`BUILD_ID must be a positive integer, got ${buildId}`, { buildId });
  if (ext !== "gpkg.tar" && ext !== "xpak")
    throw bad(`unknown binary package extension "${String(ext)}"`, { ext });
  return `${category}/${pn}/${pf}-${buildId}.${ext}`;
}
