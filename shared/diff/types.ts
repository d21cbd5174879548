/**
 * The domain of `stagefarm diff`: two file trees (a directory, a tarball, a store artifact),
 * each read once as a stream into an index of its entries, compared entry by entry and grouped
 * by the package that owns each path in portage's vdb (`var/db/pkg/<cat>/<pf>/CONTENTS`).
 *
 * Glossary
 * - **side**: one of the two trees, "a" or "b".
 * - **entry**: one path of a tree, with its type, metadata and (for a regular file) the sha256
 *   of its content; never the content itself.
 * - **attribute**: one compared property of an entry (content, mode, owner, …).
 * - **noise**: a difference that build time or host makes (./noise.ts): a named rule, kept as
 *   data, that recognises it. Noise is labelled always, and removed with `--normalize`; a
 *   difference no rule fully explains is never removed.
 * - **vdb entry**: portage's record of one installed package (`var/db/pkg/<cat>/<pf>/`).
 * - **package key**: `<cat>/<pn>`: the same package on both sides even when versions differ.
 */
import type { NoiseId } from "./noise.js";

export type EntryType = "file" | "hardlink" | "symlink" | "dir" | "fifo" | "char" | "block";

/** One path of a tree, as its tar header and content describe it. */
export interface Entry {
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (no type bits). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch as the archive records it ("1700000000" or "1700000000.25"). */
  mtime: string;
  /** Regular files and hardlinks: content bytes. */
  size: number;
  /** Regular files and hardlinks: sha256 of the content. */
  sha256?: string;
  /** Regular files a content rule applies to: sha256 with the rule's noise fields masked. */
  normalized?: { rule: NoiseId; sha256: string };
  /** Symlink target; for a regular file with other names (hardlinks), the first of its names. */
  link?: string;
  /** "major,minor" of a device node. */
  dev?: string;
  /** sha256 of the entry's extended attributes (name=value lines, sorted); absent when none. */
  xattrs?: string;
}

/** The properties compared between two entries of the same path. */
export const ATTRIBUTES = [
  "type",
  "content",
  "size",
  "mode",
  "owner",
  "xattrs",
  "symlink",
  "hardlink",
  "device",
  "mtime",
] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

/** One differing attribute of one path: the two values, and the noise rule that explains it. */
export interface AttributeDiff {
  attr: Attribute;
  a: string;
  b: string;
  noise?: NoiseId;
}

export type PathChange =
  | { t: "only-a"; path: string; a: EntryType }
  | { t: "only-b"; path: string; b: EntryType }
  | { t: "differs"; path: string; diffs: AttributeDiff[] };

/** A package's vdb entry on one side. */
export interface VdbPackage {
  /** `<cat>/<pf>`, e.g. "dev-lang/python-3.12.8". */
  cpv: string;
  /** `<cat>/<pn>`, e.g. "dev-lang/python". */
  key: string;
  use?: string;
  buildId?: string;
  slot?: string;
}

/** How the two sides' vdb entries of one package key differ. */
export interface VdbChange {
  field: "version" | "USE" | "BUILD_ID" | "SLOT" | "presence";
  a: string;
  b: string;
}

/** The changed paths one package owns (or, with `key` undefined, that no package owns). */
export interface PackageGroup {
  /** Package key; undefined for paths no package owns. */
  key?: string;
  cpvA?: string;
  cpvB?: string;
  vdb: VdbChange[];
  changes: PathChange[];
}

export interface DiffReport {
  v: 1;
  a: string;
  b: string;
  normalize: boolean;
  identical: boolean;
  entries: { a: number; b: number };
  /** Changes with at least one difference left (after `--normalize`, only non-noise). */
  packages: PackageGroup[];
  unowned: PackageGroup;
  /** Paths whose every difference was noise, per rule, removed from the groups by `--normalize`. */
  normalized: Partial<Record<NoiseId, number>>;
}
