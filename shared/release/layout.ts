/**
 * Where a release lives in the artifact store, and the grammar of its names (every name is
 * checked before it becomes part of a store path; a store path is never taken from a request).
 *
 *   releases/<arch>/autobuilds/<stamp>/<file>              the released file itself is a CAS blob:
 *   releases/.stagefarm/files/<arch>/<stamp>/<file>.json   its record ({digest, size}), served as <file>
 *   releases/<arch>/autobuilds/<stamp>/<file>.DIGESTS      plain objects, Gentoo's companions
 *   releases/<arch>/autobuilds/<stamp>/<file>.CONTENTS.gz
 *   releases/<arch>/autobuilds/<stamp>/<file>[.DIGESTS|.CONTENTS.gz].asc   with a signing key
 *   releases/<arch>/autobuilds/latest-<name>.txt           Gentoo's pointer file
 *   releases/.stagefarm/pointers/<name>.json               the pointer (./pointer.ts): digest + history
 *
 * `<file>` is `<name>-<stamp><ext>`, `<ext>` the output's own extension (`.tar.xz`, `.iso`…). The
 * released file is not copied into an object: the CAS blob is the one copy, and its record keeps
 * it reachable for garbage collection (./index.ts releaseRootDigests).
 */
import { StagefarmError } from "../errors.js";
import { RELEASE_NAME_RE as NAME_RE } from "../pipeline/index.js";
import { quoted } from "../util/excerpt.js";

export const RELEASES_PREFIX = "releases/";
/** stagefarm's own records; a dot segment never matches the served grammar below. */
export const RELEASE_META_PREFIX = "releases/.stagefarm/";
export const FILE_RECORDS_PREFIX = `${RELEASE_META_PREFIX}files/`;
export const POINTERS_PREFIX = `${RELEASE_META_PREFIX}pointers/`;

const ARCH_RE = /^[a-z0-9][a-z0-9_]{0,31}$/;
/** Gentoo's stamps are `20251207T170309Z`; anything of letters, digits, `_` and `-` is allowed. */
const STAMP_RE = /^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$/;

/** The extensions a released file may keep, longest first (`.tar.xz` before `.xz`). */
export const RELEASE_EXTENSIONS = [
  ".tar.xz",
  ".tar.zst",
  ".tar.gz",
  ".tar.bz2",
  ".tar",
  ".iso",
  ".sqfs",
  ".qcow2",
  ".xz",
  ".zst",
] as const;
export type ReleaseExtension = (typeof RELEASE_EXTENSIONS)[number];

function check(value: string, re: RegExp, what: string, rule: string): string {
  if (!re.test(value))
    throw new StagefarmError("invalid_argument", `invalid ${what} ${quoted(value)}: ${rule}`, {
      details: { [what.replace(/ /g, "_")]: value.slice(0, 200) },
    });
  return value;
}

export const assertArch = (arch: string): string =>
  check(arch, ARCH_RE, "arch", "lowercase letters, digits and _, at most 32");

/** A release name (`stage3-amd64-openrc`; no dots: the extension is the only dotted part of a
 *  file name); a leading `latest-` (how pointer files are named) is taken off. */
export function releaseName(text: string): string {
  const name = text.startsWith("latest-") ? text.slice("latest-".length) : text;
  return check(name, NAME_RE, "release name", "lowercase letters, digits, _, + and -, at most 128");
}

export const assertStamp = (stamp: string): string =>
  check(stamp, STAMP_RE, "stamp", "letters, digits, _ and -, at most 64 (e.g. 20251207T170309Z)");

/** Gentoo's stamp of `date`: `YYYYMMDDTHHMMSSZ` in UTC. */
export function stampOf(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** The extension of a file name, if it is one a release may carry. */
export function extensionOf(fileName: string): ReleaseExtension | undefined {
  const ext = RELEASE_EXTENSIONS.find((e) => fileName.endsWith(e)); // the longest that matches
  return ext !== undefined && fileName.length > ext.length ? ext : undefined;
}

export function isTarExtension(ext: ReleaseExtension): boolean {
  return ext.startsWith(".tar");
}

export const stampDir = (arch: string, stamp: string): string =>
  `${RELEASES_PREFIX}${arch}/autobuilds/${stamp}`;
export const releaseFileName = (name: string, stamp: string, ext: string): string => `${name}-${stamp}${ext}`;
export const filePath = (arch: string, stamp: string, file: string): string =>
  `${stampDir(arch, stamp)}/${file}`;
export const fileRecordPath = (arch: string, stamp: string, file: string): string =>
  `${FILE_RECORDS_PREFIX}${arch}/${stamp}/${file}.json`;
export const latestPath = (arch: string, name: string): string =>
  `${RELEASES_PREFIX}${arch}/autobuilds/latest-${name}.txt`;
export const pointerPath = (name: string): string => `${POINTERS_PREFIX}${name}.json`;

/** What a served path (below `releases/`) names; undefined for anything that cannot be served. */
export type ServedRelease =
  { t: "latest"; arch: string; name: string } | { t: "file"; arch: string; stamp: string; file: string };

const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9_+-]*(\.[A-Za-z0-9]+)+$/;

/** Parses `<arch>/autobuilds/latest-<name>.txt` or `<arch>/autobuilds/<stamp>/<file>` (decoded segments). */
export function parseServedPath(segments: readonly string[]): ServedRelease | undefined {
  const [arch, autobuilds, third, fourth, ...rest] = segments;
  if (arch === undefined || !ARCH_RE.test(arch) || autobuilds !== "autobuilds" || rest.length > 0)
    return undefined;
  if (third === undefined) return undefined;
  if (fourth === undefined) {
    const m = /^latest-(.+)\.txt$/.exec(third);
    const name = m?.[1];
    return name !== undefined && NAME_RE.test(name) ? { t: "latest", arch, name } : undefined;
  }
  if (!STAMP_RE.test(third) || !FILE_RE.test(fourth) || fourth.length > 255) return undefined;
  return { t: "file", arch, stamp: third, file: fourth };
}
