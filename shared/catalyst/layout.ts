/**
 * Where Catalyst reads and writes files under its `storedir`, from a rendered spec's settings
 * and catalyst.conf (catalyst/base/stagebase.py, targetbase.py, support.py):
 *
 *   seed       storedir/builds/<source_subpath>, or that name plus one of the extensions its
 *              decompressors accept (file_check: `<path>.*`, `.CONTENTS.gz`/`.DIGESTS`/`.sha256`
 *              ignored; two candidates are "Ambiguous Filename")
 *   snapshot   storedir/snapshots/<repo_name>-<snapshot_treeish>.sqfs
 *   result     storedir/builds/<rel_type>/<target>-<subarch>-<version_stamp>.<ext of compression_mode>
 *              plus `.CONTENTS.gz`, and `.DIGESTS` and `.sha256` when catalyst.conf has `digests`
 *   ISO        storedir/builds/<rel_type>/<livecd/iso> (livecd-stage2; same side files)
 *   pkgcache   spec `pkgcache_path`, else storedir/packages/<rel_type>/<target>-<subarch>
 *              (with `-<version_stamp>` under the `versioned_cache` option), when the
 *              `pkgcache` option is on
 */
import { posix } from "node:path";
import { StagefarmError } from "../errors.js";
import { quoted } from "../util/excerpt.js";
import { nameProblem, subpathProblem } from "./path-rules.js";
import { specString, type SpecValue } from "./spec.js";

/** Seed extensions Catalyst's default decompressors accept, longest first for suffix matching. */
export const SEED_EXTENSIONS = [
  "tar.bz2",
  "tar.xz",
  "tar.gz",
  "squashfs",
  "tbz2",
  "tpxz",
  "sfs",
  "bz2",
  "tar",
  "xz",
  "gz",
] as const;

/** Side files Catalyst writes next to a result (and ignores when looking for a seed). */
export const SIDE_FILE_SUFFIXES = [".CONTENTS.gz", ".CONTENTS", ".DIGESTS", ".sha256"] as const;

export function isSideFile(name: string): boolean {
  return SIDE_FILE_SUFFIXES.some((s) => name.endsWith(s));
}

/** The seed extension a file name ends with (`stage3.tar.xz` → `tar.xz`), if Catalyst accepts it. */
export function seedExtensionFromName(name: string): string | undefined {
  return SEED_EXTENSIONS.find((ext) => name.endsWith(`.${ext}`));
}

/** The seed extension for a file's first bytes (xz, bzip2, gzip, squashfs, plain tar), if recognised. */
export function seedExtensionFromMagic(head: Uint8Array): string | undefined {
  const b = Buffer.from(head);
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "tar.xz";
  if (b.subarray(0, 3).toString("latin1") === "BZh") return "tar.bz2";
  if (b[0] === 0x1f && b[1] === 0x8b) return "tar.gz";
  if (b.subarray(0, 4).toString("latin1") === "hsqs") return "squashfs";
  if (b.subarray(257, 262).toString("latin1") === "ustar") return "tar";
  return undefined;
}

/** A spec value used as a path below storedir: relative, of names (path-rules.ts), no `..`. */
function relativeValue(value: string, key: string, file: string): string {
  const norm = posix.normalize(value).replace(/\/+$/, "");
  if (value.startsWith("/") || subpathProblem(norm) !== undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `${file}: "${key}" must be a relative path below storedir, got ${quoted(value)}${value.startsWith("/") ? "" : ` (${subpathProblem(norm) ?? ""})`}`,
    );
  return norm;
}

/** A spec value used as one name in a file name. */
function nameValue(value: string, key: string, file: string): string {
  const problem = nameProblem(value);
  if (problem !== undefined)
    throw new StagefarmError("invalid_pipeline", `${file}: "${key}" becomes part of a file name: ${problem}`);
  return value;
}

/** The settings of a rendered spec that decide Catalyst's file layout. */
export interface SpecLayout {
  target: string;
  subarch: string;
  relType: string;
  versionStamp: string;
  treeish: string;
  /** `source_subpath` (absent for targets that take no seed). */
  sourceSubpath?: string;
  /** `<target>-<subarch>-<version_stamp>`: the result's name without its extension. */
  resultBase: string;
  /** `livecd/iso` relative to builds/<rel_type>, when the spec makes an ISO. */
  iso?: string;
  /** `pkgcache_path` when the spec sets it. */
  pkgcachePath?: string;
}

export function specLayout(settings: ReadonlyMap<string, SpecValue>, file: string): SpecLayout {
  const need = (key: string): string => {
    const v = specString(settings, key, file);
    if (v === undefined)
      throw new StagefarmError(
        "invalid_pipeline",
        `${file}: the rendered spec has no "${key}" (Catalyst requires it)`,
      );
    return v;
  };
  const target = nameValue(need("target"), "target", file);
  const subarch = nameValue(need("subarch"), "subarch", file);
  const relType = relativeValue(need("rel_type"), "rel_type", file);
  const versionStamp = nameValue(need("version_stamp"), "version_stamp", file);
  const treeish = nameValue(need("snapshot_treeish"), "snapshot_treeish", file);
  const source = specString(settings, "source_subpath", file);
  const isoValue = specString(settings, "livecd/iso", file);
  const pkgcache = settings.get("pkgcache_path");
  return {
    target,
    subarch,
    relType,
    versionStamp,
    treeish,
    ...(source !== undefined ? { sourceSubpath: relativeValue(source, "source_subpath", file) } : {}),
    resultBase: `${target}-${subarch}-${versionStamp}`,
    ...(isoValue !== undefined ? { iso: relativeValue(isoValue, "livecd/iso", file) } : {}),
    ...(pkgcache !== undefined
      ? { pkgcachePath: typeof pkgcache === "string" ? pkgcache : pkgcache.join(" ") }
      : {}),
  };
}

/** Catalyst's package cache directory for a spec, relative to storedir unless the spec sets one. */
export function pkgcacheSubpath(layout: SpecLayout, options: readonly string[]): string {
  const unversioned = `packages/${layout.relType}/${layout.target}-${layout.subarch}`;
  return options.includes("versioned_cache") ? `${unversioned}-${layout.versionStamp}` : unversioned;
}

/**
 * The snapshot file name Catalyst opens for a spec; `invalid_pipeline` when the repo name or the
 * tree-ish is not one name (a `repo_name: ../x` would place the snapshot outside storedir).
 */
export function snapshotFileName(repoName: string, treeish: string): string {
  const problem = nameProblem(repoName) ?? nameProblem(treeish);
  if (problem !== undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `the snapshot file name <repo_name>-<treeish>.sqfs would not be one name: ${problem}`,
    );
  return `${repoName}-${treeish}.sqfs`;
}
