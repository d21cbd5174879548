/**
 * One side of a diff, read once as a tar stream into an index: path → {@link Entry} (metadata
 * and content digests, never content), plus the vdb metadata files the package grouping needs.
 * Memory grows with the number of entries, not with their size: file content streams through
 * sha256 (./content-hasher.ts) in the decompressor's chunks.
 *
 * The stream gets the same checks as an archive about to be unpacked (shared/pack): the strict
 * header walker, the entry validator (traversal names, links escaping the root, limits), and,
 * for an archive file, GNU tar's own listing compared member by member. A tree the farm would
 * refuse to unpack is refused here too, with `unsafe_archive`. An entry-count bound
 * ({@link DEFAULT_MAX_ENTRIES}) keeps a hostile archive of millions of empty members from
 * exhausting memory.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, type Header } from "tar-stream";
import { StagefarmError, throwIfAborted } from "../errors.js";
import {
  EntryValidator,
  shownName,
  type EntryHeader,
  type ListedMember,
  HeaderWalker,
  toListedMember,
  normaliseMember,
  ByteCounter,
  globalPaxOf,
  toEntryHeader,
  type UnpackLimits,
} from "../pack/index.js";
import { excerpt } from "../util/excerpt.js";
import { skipEntry } from "../util/skip-entry.js";
import { ContentHasher } from "./content-hasher.js";
import { sha256 } from "../digest.js";
import type { Entry, EntryType } from "./types.js";
import { VDB_CAPTURE_BYTES, VDB_CAPTURE_TOTAL_BYTES, vdbEntryOf, vdbMetadataOf } from "./vdb.js";

/** Far above a full desktop root (a stage3 has ~40 000 entries); ~1 KiB of memory each. */
export const DEFAULT_MAX_ENTRIES = 2_000_000;

export interface IndexOptions {
  /** Most entries one side may have (default {@link DEFAULT_MAX_ENTRIES}). */
  maxEntries?: number;
  limits?: UnpackLimits;
  signal?: AbortSignal;
}

export interface TreeIndex {
  /** Names the side in messages and reports. */
  label: string;
  /** Normalised member path ("." for the root) → entry. */
  entries: Map<string, Entry>;
  /** Captured vdb metadata (./vdb.ts), by path. */
  vdbFiles: Map<string, Buffer>;
  /** `<cat>/<pf>` of every vdb entry directory seen. */
  vdbEntries: Set<string>;
  /** The members as tar-stream read them (for the GNU tar cross-check of an archive file). */
  members: ListedMember[];
}

const TYPES: Readonly<Record<string, EntryType>> = {
  file: "file",
  link: "hardlink",
  symlink: "symlink",
  directory: "dir",
  fifo: "fifo",
  "character-device": "char",
  "block-device": "block",
};

/**
 * Reads `source` (an uncompressed tar stream) into an index. `what` names the stream in
 * messages; `keepMembers` keeps the listing for a GNU tar cross-check.
 */
export async function indexTarStream(
  source: Readable,
  what: string,
  label: string,
  opts: IndexOptions & { keepMembers?: boolean },
): Promise<TreeIndex> {
  throwIfAborted(opts.signal);
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const index: TreeIndex = {
    label,
    entries: new Map(),
    vdbFiles: new Map(),
    vdbEntries: new Set(),
    members: [],
  };
  let capturedBytes = 0;
  /** First regular file of each hardlink set → every path of the set. */
  const linkGroups = new Map<string, string[]>();
  const linkRoots = new Map<string, string>();
  const counter = new ByteCounter();
  const walker = new HeaderWalker(what, label);
  const extract = tarExtract();
  const validator = new EntryValidator(label, { allowDevices: true, limits: opts.limits ?? {} });
  let walkerError: StagefarmError | undefined;
  walker.once("error", (err: unknown) => {
    walkerError = StagefarmError.from(err);
  });

  const feeding = pipeline(source, counter, walker, extract, { signal: opts.signal });
  const parsing = (async () => {
    for await (const entry of extract) {
      const h = toEntryHeader(entry.header);
      validator.check(h, globalPaxOf(extract));
      if (validator.entries > maxEntries)
        throw new StagefarmError(
          "unsafe_archive",
          `${what} has more than ${maxEntries} entries, the limit (--max-entries)`,
          { details: { archive: label } },
        );
      const shown = shownName(h);
      if (opts.keepMembers === true) index.members.push(toListedMember(entry.header, shown, h.pax));
      const path = normaliseMember(shown) || ".";
      const e = toEntry(entry.header, h);
      const vdb = vdbEntryOf(path);
      if (vdb !== undefined) index.vdbEntries.add(vdb);
      if (e.type === "file") {
        const capture = vdbMetadataOf(path) !== undefined ? VDB_CAPTURE_BYTES : 0;
        const hasher = new ContentHasher(path, capture);
        for await (const chunk of entry as AsyncIterable<Buffer>) hasher.update(chunk);
        const c = hasher.finish();
        e.sha256 = c.sha256;
        if (c.normalized !== undefined) e.normalized = c.normalized;
        capturedBytes -= index.vdbFiles.get(path)?.length ?? 0;
        if (c.captured !== undefined) {
          index.vdbFiles.set(path, c.captured);
          capturedBytes += c.captured.length;
          if (capturedBytes > VDB_CAPTURE_TOTAL_BYTES)
            throw unsafe(
              label,
              `${what} holds more than ${VDB_CAPTURE_TOTAL_BYTES} bytes of vdb metadata (var/db/pkg/*/*/{CONTENTS,USE,…}), the limit`,
            );
        } else index.vdbFiles.delete(path);
      } else {
        if (e.type === "hardlink") {
          const to = normaliseMember(e.link ?? "");
          const target = index.entries.get(to);
          if (target?.sha256 !== undefined) e.sha256 = target.sha256;
          if (target?.normalized !== undefined) e.normalized = target.normalized;
          e.size = target?.size ?? 0;
          // Extraction makes a hardlink with link(2): it is the target, whatever its own header says.
          if (target !== undefined) {
            e.mode = target.mode;
            e.uid = target.uid;
            e.gid = target.gid;
            e.mtime = target.mtime;
            if (target.xattrs !== undefined) e.xattrs = target.xattrs;
            else delete e.xattrs;
          }
          const root = linkRoots.get(to) ?? to;
          linkRoots.set(path, root);
          const group = linkGroups.get(root) ?? [root];
          group.push(path);
          linkGroups.set(root, group);
        }
        skipEntry(entry);
      }
      index.entries.set(path, e);
    }
  })();
  const [fed, parsed] = await Promise.allSettled([feeding, parsing]);
  if (opts.signal?.aborted)
    throw new StagefarmError("cancelled", `reading ${what} was cancelled`, { cause: opts.signal.reason });
  if (parsed.status === "rejected" && parsed.reason instanceof StagefarmError) throw parsed.reason;
  if (counter.bytes === 0) throw unsafe(label, `${what} is empty: not a tar archive`);
  if (walkerError !== undefined) throw walkerError;
  const failure: unknown =
    parsed.status === "rejected" ? parsed.reason : fed.status === "rejected" ? fed.reason : undefined;
  if (failure !== undefined)
    throw unsafe(label, `${what} cannot be read as a tar archive: ${message(failure)}`, failure);
  validator.finish();
  nameLinkGroups(index, linkGroups);
  return index;
}

/**
 * A set of hardlinked paths is one file under several names; which name an archive stores as
 * the file and which as links depends on the order it was written in. Every path of a set
 * becomes a regular file named in `link` by the set's first path in code-unit order, so two
 * trees with the same sets compare equal whatever their archive order.
 */
function nameLinkGroups(index: TreeIndex, groups: ReadonlyMap<string, string[]>): void {
  for (const paths of groups.values()) {
    const first = [...paths].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))[0] ?? "";
    for (const p of paths) {
      const e = index.entries.get(p);
      if (e === undefined || (e.type !== "file" && e.type !== "hardlink")) continue;
      e.type = "file";
      e.link = first;
    }
  }
}

function toEntry(raw: Header, h: EntryHeader): Entry {
  const type = TYPES[h.type ?? ""] ?? "file";
  const e: Entry = {
    type,
    mode: (raw.mode ?? 0) & 0o7777,
    uid: raw.uid ?? 0,
    gid: raw.gid ?? 0,
    mtime: mtimeOf(raw, h.pax),
    size: type === "file" ? h.size : 0,
  };
  if (type === "symlink" || type === "hardlink") e.link = h.linkname ?? "";
  if (type === "char" || type === "block") e.dev = `${raw.devmajor ?? 0},${raw.devminor ?? 0}`;
  const xattrs = Object.entries(h.pax ?? {})
    .filter(([k]) => k.startsWith("SCHILY.xattr.") || k.startsWith("LIBARCHIVE.xattr."))
    .map(([k, v]) => `${k.replace(/^(SCHILY|LIBARCHIVE)\.xattr\./, "")}=${sha256(v).slice(0, 16)}`)
    .sort();
  if (xattrs.length > 0) e.xattrs = xattrs.join(" ");
  return e;
}

/** The pax mtime as written ("1700000000.5"), trailing zeros dropped; else the header's seconds. */
function mtimeOf(raw: Header, pax: Record<string, string> | null): string {
  const p = pax?.["mtime"];
  if (p !== undefined && /^-?[0-9]{1,20}(\.[0-9]{1,20})?$/.test(p)) {
    const [secs = "0", frac = ""] = p.split(".");
    const kept = frac.replace(/0+$/, "");
    return kept === "" ? secs : `${secs}.${kept}`;
  }
  const d = raw.mtime;
  return d instanceof Date ? String(Math.floor(d.getTime() / 1000)) : "0";
}

function unsafe(label: string, msg: string, cause?: unknown): StagefarmError {
  return new StagefarmError("unsafe_archive", msg, { cause, details: { archive: label } });
}

function message(err: unknown): string {
  return excerpt(err instanceof Error ? err.message : String(err), 300);
}
