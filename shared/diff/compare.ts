/**
 * Compares two tree indexes path by path and groups what differs by the package that owns each
 * path (./vdb.ts): side B's owner, else side A's; a vdb entry's own files belong to its
 * package; paths no package owns form one group apart. Each differing attribute is labelled
 * with the noise rule that explains it (./noise.ts); with `normalize`, paths whose every
 * difference is noise are counted per rule and left out of the groups.
 */
import { NOISE_IDS, type NoiseId } from "./noise.js";
import type { TreeIndex } from "./tree-index.js";
import type {
  AttributeDiff,
  DiffReport,
  Entry,
  PackageGroup,
  PathChange,
  VdbChange,
  VdbPackage,
} from "./types.js";
import { readVdb, splitCpv, vdbEntryOf, vdbMetadataOf, type VdbView } from "./vdb.js";

export interface CompareOptions {
  normalize: boolean;
}

export function compareTrees(a: TreeIndex, b: TreeIndex, opts: CompareOptions): DiffReport {
  const va = withEntries(readVdb(a.vdbFiles), a.vdbEntries);
  const vb = withEntries(readVdb(b.vdbFiles), b.vdbEntries);
  const groups = new Map<string, PackageGroup>();
  const unowned: PackageGroup = { vdb: [], changes: [] };
  const normalized: Partial<Record<NoiseId, number>> = {};

  const groupFor = (path: string): PackageGroup => {
    const cpv = vb.owners.get(path) ?? vdbEntryOf(path) ?? va.owners.get(path);
    if (cpv === undefined) return unowned;
    const key = splitCpv(cpv).key;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = newGroup(key, va, vb)));
    return g;
  };

  const paths = new Set<string>([...a.entries.keys(), ...b.entries.keys()]);
  const found: PathChange[] = [];
  /** Paths present on both sides whose every difference is noise (or none). */
  const quiet = (path: string): boolean => {
    const ea = a.entries.get(path);
    const eb = b.entries.get(path);
    return ea !== undefined && eb !== undefined && compareEntries(ea, eb).every((d) => d.noise !== undefined);
  };
  for (const path of [...paths].sort(byCodeUnit)) {
    const ea = a.entries.get(path);
    const eb = b.entries.get(path);
    if (ea === undefined && eb !== undefined) found.push({ t: "only-b", path, b: eb.type });
    else if (eb === undefined && ea !== undefined) found.push({ t: "only-a", path, a: ea.type });
    else if (ea !== undefined && eb !== undefined) {
      let diffs = compareEntries(ea, eb);
      if (diffs.length === 0) continue;
      if (
        vdbMetadataOf(path)?.file === "CONTENTS" &&
        contentsOnlyNoise(a.vdbFiles.get(path), b.vdbFiles.get(path), vdbMetadataOf(path)?.root ?? "", quiet)
      )
        diffs = diffs.map((d) =>
          d.attr === "content" || d.attr === "size" ? { ...d, noise: "vdb-contents" } : d,
        );
      found.push({ t: "differs", path, diffs });
    }
  }
  for (const change of found) {
    if (change.t === "differs" && change.diffs.every((d) => d.noise !== undefined)) {
      if (opts.normalize) {
        for (const id of new Set(change.diffs.map((d) => d.noise)))
          if (id !== undefined) normalized[id] = (normalized[id] ?? 0) + 1;
        continue;
      }
    }
    const shown: PathChange =
      opts.normalize && change.t === "differs"
        ? { ...change, diffs: change.diffs.filter((d) => d.noise === undefined) }
        : change;
    groupFor(change.path).changes.push(shown);
  }

  // Packages whose vdb entries differ although no path does (the same files, another USE).
  for (const key of new Set([...keysOf(va), ...keysOf(vb)]))
    if (!groups.has(key)) {
      const g = newGroup(key, va, vb);
      if (g.vdb.length > 0) groups.set(key, g);
    }

  const packages = [...groups.values()].sort((x, y) => byCodeUnit(x.key ?? "", y.key ?? ""));
  return {
    v: 1,
    a: a.label,
    b: b.label,
    normalize: opts.normalize,
    identical: packages.length === 0 && unowned.changes.length === 0,
    entries: { a: a.entries.size, b: b.entries.size },
    packages,
    unowned,
    normalized: Object.fromEntries(
      NOISE_IDS.filter((id) => normalized[id] !== undefined).map((id) => [id, normalized[id]]),
    ),
  };
}

/**
 * Whether two CONTENTS files differ only by noise, line by line in order: an obj or sym line
 * may differ in its mtime, and an obj line in its md5 when the path's own differences between
 * the trees are all noise; every other byte must be equal. Either file not captured: no.
 */
function contentsOnlyNoise(
  a: Buffer | undefined,
  b: Buffer | undefined,
  root: string,
  quiet: (path: string) => boolean,
): boolean {
  if (a === undefined || b === undefined) return false;
  const la = a.toString("utf8").split("\n");
  const lb = b.toString("utf8").split("\n");
  if (la.length !== lb.length) return false;
  for (let i = 0; i < la.length; i++) {
    const x = la[i] ?? "";
    const y = lb[i] ?? "";
    if (x === y) continue;
    const ox = OBJ_LINE.exec(x);
    const oy = OBJ_LINE.exec(y);
    if (ox !== null && oy !== null) {
      if (ox[1] !== oy[1]) return false;
      if (ox[2] !== oy[2] && !quiet(`${root}${(ox[1] ?? "").replace(/^\/+/, "")}`)) return false;
      continue;
    }
    const sx = SYM_LINE.exec(x);
    const sy = SYM_LINE.exec(y);
    if (sx === null || sy === null || sx[1] !== sy[1]) return false;
  }
  return true;
}

const OBJ_LINE = /^obj (.*) ([0-9a-f]{32}) [0-9]+$/;
const SYM_LINE = /^(sym .* -> .*) [0-9]+$/;

/** The vdb packages of one side by package key (the last CPV wins when a key has two slots). */
function byKey(v: VdbView): Map<string, VdbPackage> {
  const m = new Map<string, VdbPackage>();
  for (const p of v.packages.values()) m.set(p.key, p);
  return m;
}

function keysOf(v: VdbView): string[] {
  return [...byKey(v).keys()];
}

/** Registers vdb entry directories that had none of the captured metadata files. */
function withEntries(v: VdbView, entries: ReadonlySet<string>): VdbView {
  for (const cpv of entries) if (!v.packages.has(cpv)) v.packages.set(cpv, { cpv, key: splitCpv(cpv).key });
  return v;
}

function newGroup(key: string, va: VdbView, vb: VdbView): PackageGroup {
  const pa = byKey(va).get(key);
  const pb = byKey(vb).get(key);
  const g: PackageGroup = { key, vdb: vdbChanges(pa, pb), changes: [] };
  if (pa !== undefined) g.cpvA = pa.cpv;
  if (pb !== undefined) g.cpvB = pb.cpv;
  return g;
}

function vdbChanges(pa: VdbPackage | undefined, pb: VdbPackage | undefined): VdbChange[] {
  if (pa === undefined && pb === undefined) return [];
  if (pa === undefined || pb === undefined)
    return [{ field: "presence", a: pa?.cpv ?? "(not installed)", b: pb?.cpv ?? "(not installed)" }];
  const out: VdbChange[] = [];
  const va = splitCpv(pa.cpv).version;
  const vb = splitCpv(pb.cpv).version;
  if (va !== vb) out.push({ field: "version", a: va, b: vb });
  if ((pa.use ?? "") !== (pb.use ?? "")) out.push({ field: "USE", a: pa.use ?? "", b: pb.use ?? "" });
  if ((pa.buildId ?? "") !== (pb.buildId ?? ""))
    out.push({ field: "BUILD_ID", a: pa.buildId ?? "", b: pb.buildId ?? "" });
  if ((pa.slot ?? "") !== (pb.slot ?? "")) out.push({ field: "SLOT", a: pa.slot ?? "", b: pb.slot ?? "" });
  return out;
}

/** What differs between two entries of one path, each difference labelled with its noise rule. */
export function compareEntries(a: Entry, b: Entry): AttributeDiff[] {
  const out: AttributeDiff[] = [];
  const push = (attr: AttributeDiff["attr"], x: string, y: string, noise?: NoiseId): void => {
    if (x === y) return;
    out.push(noise === undefined ? { attr, a: x, b: y } : { attr, a: x, b: y, noise });
  };
  // A hardlink is a regular file that shares its content: file vs hardlink compares on.
  const kind = (e: Entry): string => (e.type === "hardlink" ? "file" : e.type);
  if (kind(a) !== kind(b)) return [{ attr: "type", a: a.type, b: b.type }];
  if (a.sha256 !== b.sha256) {
    const na = a.normalized;
    const nb = b.normalized;
    const noise =
      na !== undefined && nb !== undefined && na.rule === nb.rule && na.sha256 === nb.sha256
        ? na.rule
        : undefined;
    push("content", a.sha256 ?? "", b.sha256 ?? "", noise);
  }
  push("size", String(a.size), String(b.size));
  push("mode", octal(a.mode), octal(b.mode));
  push("owner", `${a.uid}:${a.gid}`, `${b.uid}:${b.gid}`);
  push("xattrs", a.xattrs ?? "", b.xattrs ?? "");
  if (a.type === "symlink") push("symlink", a.link ?? "", b.link ?? "");
  if (a.type === "file") push("hardlink", a.link ?? "", b.link ?? "");
  push("device", a.dev ?? "", b.dev ?? "");
  if (!sameMtime(a.mtime, b.mtime)) push("mtime", a.mtime, b.mtime, "mtime");
  return out;
}

/**
 * Mtimes at the precision both sides recorded: an archive without pax mtimes keeps whole
 * seconds, a directory or a POSIX archive nanoseconds; that alone is not a difference.
 */
function sameMtime(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.includes(".") && b.includes(".")) return false;
  return a.split(".")[0] === b.split(".")[0];
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

function byCodeUnit(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
