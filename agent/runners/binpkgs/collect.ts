/**
 * Binary packages a stage left in a portage PKGDIR, collected as outputs. Used by the emerge
 * runner (PKGDIR) and the catalyst runner (its pkgcache).
 *
 * Protocol
 * - Before the build, `snapshotPkgdir` records every package file (relative path → size, mtime,
 *   inode). Afterwards `collectBinpkgs` takes each package file that is new or changed since
 *   that snapshot: gpkg (`.gpkg.tar`) and legacy xpak (`.tbz2`, `.xpak`). Symlinks and other
 *   non-regular files are never followed or taken.
 * - Each package is stored as its own blob and returned as the output `binpkg:<relpath>`
 *   (kind "file", relpath "/"-separated under PKGDIR).
 * - One more output, `binpkgs.index`, holds the index stanzas of those packages: the exact text
 *   blocks of PKGDIR/Packages, in that file's order, separated by blank lines. A package the
 *   index does not list (or no Packages file at all) gets a derived stanza (CPV and BUILD_ID
 *   when the path shows them, MD5, PATH, SHA1, SIZE, MTIME) and a log line saying so. The
 *   output is written even when no package was built (then empty).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { checkProfileHeader, profileHeaderOf, splitPackagesBlocks } from "../../../shared/binhost/index.js";
import type { Digest } from "../../../shared/digest.js";
import { StagefarmError, throwIfAborted } from "../../../shared/errors.js";
import type { ArtifactStore } from "../../../shared/store/index.js";
import type { RunnerResult } from "../common/index.js";

/** Output name prefix of a collected package; the rest is its path under PKGDIR. */
export const BINPKG_OUTPUT_PREFIX = "binpkg:";
/** Output name of the index stanzas of the collected packages. */
export const BINPKGS_INDEX_OUTPUT = "binpkgs.index";

const PACKAGE_SUFFIXES = [".gpkg.tar", ".tbz2", ".xpak"] as const;

export interface PkgdirEntry {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** Package files found in a PKGDIR: "/"-separated path under PKGDIR → what identifies its bytes. */
export type PkgdirSnapshot = ReadonlyMap<string, PkgdirEntry>;

export interface CollectedBinpkg {
  /** Path under PKGDIR, "/"-separated (e.g. `sys-devel/gcc/gcc-13.2.0-1.gpkg.tar`). */
  relpath: string;
  /** Absolute local path of the package file. */
  file: string;
  digest: Digest;
  size: number;
  /** The package's index block, without a trailing blank line (lines end with "\n"). */
  stanza: string;
  /** Whether the stanza is PKGDIR/Packages' own (false: derived from the file). */
  fromIndex: boolean;
}

export interface CollectBinpkgsOptions {
  /** Absolute local path of the PKGDIR (already checked to be where the caller may read). */
  pkgdir: string;
  /** The state before the build; absent: every package counts as new. */
  before?: PkgdirSnapshot;
  store: ArtifactStore;
  signal: AbortSignal;
  /** One line of the stage log. */
  log: (line: string) => void;
  /** Names the PKGDIR in log lines as the stage sees it (default: `pkgdir`). */
  shownAs?: string;
}

export interface CollectedBinpkgs {
  /** New or changed packages, in PKGDIR/Packages order (unlisted ones after, by path). */
  packages: CollectedBinpkg[];
  /** The text stored as `binpkgs.index`. */
  index: string;
  /** `binpkg:<relpath>` per package plus `binpkgs.index`, ready for RunnerResult.stored. */
  stored: NonNullable<RunnerResult["stored"]>;
  /** The profile keys of PKGDIR/Packages' header (IUSE_IMPLICIT, USE_EXPAND*, ARCH), checked. */
  profile: Record<string, string>;
}

export function isBinpkgFile(relpath: string): boolean {
  return PACKAGE_SUFFIXES.some((s) => relpath.endsWith(s));
}

/** Every package file below `pkgdir` (an absent PKGDIR is empty). */
export async function snapshotPkgdir(pkgdir: string, signal?: AbortSignal): Promise<PkgdirSnapshot> {
  const found = new Map<string, PkgdirEntry>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    throwIfAborted(signal);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      if (e.code === "not_found" && rel === "") return;
      throw e;
    }
    for (const name of names.sort()) {
      const relpath = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(dir, name));
      if (st.isDirectory()) await walk(join(dir, name), relpath);
      else if (st.isFile() && isBinpkgFile(relpath))
        found.set(relpath, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
  };
  await walk(pkgdir, "");
  return found;
}

/** Stores the packages new or changed since `before` and their index stanzas. */
export async function collectBinpkgs(opts: CollectBinpkgsOptions): Promise<CollectedBinpkgs> {
  const { pkgdir, store, signal } = opts;
  const shown = opts.shownAs ?? pkgdir;
  const after = await snapshotPkgdir(pkgdir, signal);
  const fresh = [...after].filter(([rel, now]) => !sameEntry(opts.before?.get(rel), now)).map(([rel]) => rel);
  const read = await readPackagesIndex(join(pkgdir, "Packages"));
  const index = read?.blocks;
  if (fresh.length > 0 && index === undefined)
    opts.log(`${shown}/Packages does not exist: deriving the index stanzas from the package files`);

  const order = new Map<string, number>();
  const stanzas = new Map<string, string>();
  for (const [i, block] of (index ?? []).entries())
    for (const path of block.paths) {
      if (!order.has(path)) order.set(path, i);
      stanzas.set(path, block.text);
    }
  fresh.sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b));

  const packages: CollectedBinpkg[] = [];
  const stored: CollectedBinpkgs["stored"] = {};
  for (const relpath of fresh) {
    throwIfAborted(signal);
    const file = join(pkgdir, ...relpath.split("/"));
    const blob = await store.putBlobFile(file, { signal });
    let stanza = stanzas.get(relpath);
    const fromIndex = stanza !== undefined;
    if (stanza === undefined) {
      if (index !== undefined) opts.log(`${shown}/Packages has no entry for ${relpath}: deriving its stanza`);
      stanza = await deriveStanza(file, relpath, signal);
    }
    packages.push({ relpath, file, digest: blob.digest, size: blob.size, stanza, fromIndex });
    stored[`${BINPKG_OUTPUT_PREFIX}${relpath}`] = { digest: blob.digest, size: blob.size, kind: "file" };
  }
  const text = packages.map((p) => p.stanza).join("\n");
  const indexBlob = await store.putBlob(Readable.from([Buffer.from(text)]), { signal });
  stored[BINPKGS_INDEX_OUTPUT] = { digest: indexBlob.digest, size: indexBlob.size, kind: "file" };
  opts.log(
    packages.length === 0
      ? `no new binary packages in ${shown}`
      : `collected ${packages.length} binary package(s) from ${shown}: ${packages.map((p) => p.relpath).join(", ")}`,
  );
  return { packages, index: text, stored, profile: profileOf(read?.header ?? {}, shown, opts.log) };
}

/** The profile keys of PKGDIR/Packages' header to pass to the binhost; none when they are out of bounds. */
function profileOf(
  header: Record<string, string>,
  shown: string,
  log: (line: string) => void,
): Record<string, string> {
  const profile = profileHeaderOf(header);
  try {
    checkProfileHeader(profile, `${shown}/Packages`);
    return profile;
  } catch (err: unknown) {
    log(`${StagefarmError.from(err).message}: its profile keys are not passed to the binhost`);
    return {};
  }
}

function sameEntry(a: PkgdirEntry | undefined, b: PkgdirEntry): boolean {
  return a !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

export interface IndexBlock {
  /** The block's lines as written, each ending with "\n". */
  text: string;
  /** The paths under PKGDIR this block can describe: its PATH, else the default names for its CPV. */
  paths: string[];
}

/**
 * A portage `Packages` index: its package blocks (the header block, the one without CPV, is
 * skipped) and the header's keys. Absent file: undefined; anything but a regular file:
 * `unsafe_archive`.
 */
export async function readPackagesIndex(
  path: string,
): Promise<{ blocks: IndexBlock[]; header: Record<string, string> } | undefined> {
  let text: string;
  try {
    // Only a regular file: a symlink in a rootfs could point at anything on the agent.
    if (!(await lstat(path)).isFile())
      throw new StagefarmError("unsafe_archive", `${path} is not a regular file (a symlink or directory)`);
    text = await readFile(path, "utf8");
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
  return { blocks: parsePackagesIndex(text), header: parsePackagesHeader(text) };
}

/** The keys of a `Packages` text's header block (empty when its first block has a CPV). */
export function parsePackagesHeader(text: string): Record<string, string> {
  const keys = blockKeys(splitPackagesBlocks(text)[0]?.lines ?? []);
  return keys.has("CPV") ? {} : Object.fromEntries(keys);
}

/**
 * The package blocks of a `Packages` text, each with its text as written. Lenient, unlike
 * `parsePackages` (shared/binhost), on purpose: the blocks are only copied, never rewritten, so
 * a quirk of the file must not fail a build that succeeded (a block without CPV, such as the
 * header, is skipped; a malformed line is copied but read for no key; blocks after a second
 * blank line are still read); a package it cannot place gets a derived stanza instead.
 */
export function parsePackagesIndex(text: string): IndexBlock[] {
  const blocks: IndexBlock[] = [];
  for (const block of splitPackagesBlocks(text)) {
    const keys = blockKeys(block.lines);
    const cpv = keys.get("CPV");
    if (cpv === undefined) continue;
    const explicit = keys.get("PATH");
    const paths = explicit !== undefined ? [explicit] : [`${cpv}.tbz2`, `${cpv}.gpkg.tar`];
    blocks.push({ text: block.lines.map((l) => `${l}\n`).join(""), paths });
  }
  return blocks;
}

/** The `KEY: value` lines of a block, read leniently (a malformed line is read for no key). */
function blockKeys(lines: readonly string[]): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of lines) {
    const m = /^([A-Z0-9_]+): ?(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) keys.set(m[1], m[2]);
  }
  return keys;
}

/** CPV and BUILD_ID as far as a package path shows them (portage's two layouts). */
export function cpvFromPath(relpath: string): { cpv?: string; buildId?: string } {
  const suffix = PACKAGE_SUFFIXES.find((s) => relpath.endsWith(s));
  if (suffix === undefined) return {};
  const parts = relpath.slice(0, -suffix.length).split("/");
  // binpkg-multi-instance: <category>/<PN>/<PF>-<BUILD_ID>.<ext>
  if (parts.length === 3) {
    const [cat, , base] = parts;
    const m = /^(.+)-(\d+)$/.exec(base ?? "");
    if (cat !== undefined && m?.[1] !== undefined && m[2] !== undefined)
      return { cpv: `${cat}/${m[1]}`, buildId: m[2] };
  }
  // Plain layout: <category>/<PF>.<ext>
  if (parts.length === 2) return { cpv: parts.join("/") };
  return {};
}

async function deriveStanza(file: string, relpath: string, signal: AbortSignal): Promise<string> {
  const md5 = createHash("md5");
  const sha1 = createHash("sha1");
  for await (const chunk of createReadStream(file, {
    highWaterMark: 1 << 20,
    signal,
  }) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    sha1.update(chunk);
  }
  const st = await lstat(file);
  const { cpv, buildId } = cpvFromPath(relpath);
  const lines = [
    ...(buildId !== undefined ? [`BUILD_ID: ${buildId}`] : []),
    ...(cpv !== undefined ? [`CPV: ${cpv}`] : []),
    `MD5: ${md5.digest("hex")}`,
    `PATH: ${relpath}`,
    `SHA1: ${sha1.digest("hex")}`,
    `SIZE: ${st.size}`,
    `MTIME: ${Math.floor(st.mtimeMs / 1000)}`,
  ];
  return lines.map((l) => `${l}\n`).join("");
}
