/**
 * Portage's installed-package database as found in a tree: `var/db/pkg/<cat>/<pf>/` holds, per
 * package, `CONTENTS` (what it installed) and one file per metadata key (`USE`, `BUILD_ID`,
 * `SLOT`, …). Read here: who owns each path, and the metadata `stagefarm diff` compares.
 *
 * CONTENTS lines (portage's vartree format; paths may contain spaces):
 *   dir /usr/lib/python3.12
 *   obj /usr/bin/python3.12 <md5> <mtime>
 *   sym /usr/bin/python3 -> python3.12 <mtime>
 *   dev /dev/null   fif /run/initctl
 * `obj` drops the last two space-separated fields; `sym` splits at the first " -> " (as
 * portage does) and drops the mtime after the target.
 */
import type { VdbPackage } from "./types.js";

/** The vdb files read (captured while the tree streams past). */
export const VDB_METADATA = ["CONTENTS", "USE", "BUILD_ID", "SLOT"] as const;
export type VdbMetadata = (typeof VDB_METADATA)[number];

/**
 * A tree's root, or the root of a squashfs unpacked from an ISO (./sources.ts puts it at
 * `<image>.squashfs.contents/`): both hold a vdb whose CONTENTS paths are relative to it.
 */
const ROOT = String.raw`((?:[^/]+/)*[^/]+\.(?:squashfs|sqfs)\.contents/)?`;
const VDB_PATH = new RegExp(String.raw`^${ROOT}var/db/pkg/([^/]+)/([^/]+)/([^/]+)$`);
const VDB_DIR = new RegExp(String.raw`^${ROOT}var/db/pkg/([^/]+)/([^/]+)(?:/|$)`);

/** Most bytes of vdb metadata captured per file (a huge CONTENTS is a hostile one). */
export const VDB_CAPTURE_BYTES = 64 << 20;

/** Most bytes of vdb metadata kept for one tree (a full desktop root's CONTENTS add up to ~50 MiB). */
export const VDB_CAPTURE_TOTAL_BYTES = 512 << 20;

/** Whether the tree path is vdb metadata to capture, and which. */
export function vdbMetadataOf(path: string): { cpv: string; file: VdbMetadata; root: string } | undefined {
  const m = VDB_PATH.exec(path);
  if (m === null) return undefined;
  const [, root = "", cat, pf, file] = m;
  if (cat === undefined || pf === undefined || file === undefined) return undefined;
  const known = VDB_METADATA.find((f) => f === file);
  return known === undefined ? undefined : { cpv: `${cat}/${pf}`, file: known, root };
}

/** The `<cat>/<pf>` whose vdb entry holds this path (the entry directory itself included). */
export function vdbEntryOf(path: string): string | undefined {
  const m = VDB_DIR.exec(path);
  return m === null ? undefined : `${m[2] ?? ""}/${m[3] ?? ""}`;
}

/** PMS version syntax, anchored at the end of a PF: `-1.2.3a_rc1_p2-r3`. */
const VERSION_TAIL = /-([0-9]+(?:\.[0-9]+)*[a-z]?(?:_(?:alpha|beta|pre|rc|p)[0-9]*)*(?:-r[0-9]+)?)$/;

/** `<cat>/<pf>` → `<cat>/<pn>` and the version ("" when the name has none). */
export function splitCpv(cpv: string): { key: string; version: string } {
  const m = VERSION_TAIL.exec(cpv);
  if (m === null) return { key: cpv, version: "" };
  return { key: cpv.slice(0, m.index), version: m[1] ?? "" };
}

/** One CONTENTS line: its kind, and the md5 of an obj or the target of a sym (mtimes dropped). */
export interface ContentsRecord {
  kind: "dir" | "obj" | "sym" | "dev" | "fif";
  md5?: string;
  target?: string;
}

/** The records a CONTENTS file lists, by tree path (no leading "/"). Malformed lines are skipped. */
export function contentsRecords(text: string): Map<string, ContentsRecord> {
  const out = new Map<string, ContentsRecord>();
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp < 0) continue;
    const kind = line.slice(0, sp);
    const rest = line.slice(sp + 1);
    let path: string | undefined;
    let rec: ContentsRecord | undefined;
    if (kind === "dir" || kind === "dev" || kind === "fif") {
      path = rest;
      rec = { kind };
    } else if (kind === "obj") {
      const m = /^(.*) ([0-9a-f]{32}) [0-9]+$/.exec(rest);
      path = m?.[1];
      rec = { kind, md5: m?.[2] ?? "" };
    } else if (kind === "sym") {
      const arrow = rest.indexOf(" -> ");
      path = arrow < 0 ? undefined : rest.slice(0, arrow);
      rec = { kind, target: rest.slice(arrow + 4).replace(/ [0-9]+$/, "") };
    }
    if (path === undefined || rec === undefined || !path.startsWith("/")) continue;
    const rel = path.replace(/^\/+/, "").replace(/\/+$/, "");
    if (rel !== "") out.set(rel, rec);
  }
  return out;
}

/** The tree paths (no leading "/") a CONTENTS file lists. */
export function contentsPaths(text: string): string[] {
  return [...contentsRecords(text).keys()];
}

/** The packages of one tree and who owns each path, from its captured vdb files. */
export interface VdbView {
  packages: Map<string, VdbPackage>;
  /** Tree path → `<cat>/<pf>` of its owner (the last CONTENTS listing it wins, as in portage). */
  owners: Map<string, string>;
}

export function readVdb(files: ReadonlyMap<string, Buffer>): VdbView {
  const packages = new Map<string, VdbPackage>();
  const owners = new Map<string, string>();
  const pkg = (cpv: string): VdbPackage => {
    let p = packages.get(cpv);
    if (p === undefined) packages.set(cpv, (p = { cpv, key: splitCpv(cpv).key }));
    return p;
  };
  for (const [path, bytes] of [...files].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const meta = vdbMetadataOf(path);
    if (meta === undefined) continue;
    const p = pkg(meta.cpv);
    const text = bytes.toString("utf8");
    if (meta.file === "CONTENTS")
      for (const owned of contentsPaths(text)) owners.set(`${meta.root}${owned}`, meta.cpv);
    else if (meta.file === "USE") p.use = text.trim().split(/\s+/).sort().join(" ");
    else if (meta.file === "BUILD_ID") p.buildId = text.trim();
    else p.slot = text.trim();
  }
  return { packages, owners };
}
