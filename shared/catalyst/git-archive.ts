/**
 * The repository snapshot as Catalyst makes it, from one input: the gentoo repository's
 * tree-ish. `catalyst --snapshot <treeish>` (catalyst/targets/snapshot.py, 4.1.1) runs
 * `git archive --format=tar <treeish> | tar2sqfs storedir/snapshots/<repo_name>-<treeish>.sqfs
 * -q -f -j1 -c gzip`, and releng's catalyst-auto stamps the builds with that commit's committer
 * date (`%Y%m%dT%H%M%SZ`). A `git archive` tarball of the commit (gitweb's
 * `…/snapshot/gentoo-<treeish>.tar.gz`, or `git archive` itself) carries both facts: its first
 * header is a pax global header whose `comment` record is the commit id, and every entry's
 * mtime is the commit time. So the tree-ish names the download, the archive proves it is that
 * commit, and TIMESTAMP is read from it: three values, one choice.
 */

export interface GitArchiveInfo {
  /** The commit id in the pax global header's `comment` record. */
  commit: string;
  /** The commit time (the header's mtime), seconds since the epoch. */
  commitTime: number;
  /** The directory every entry sits in (gitweb: `gentoo-<treeish>`), when the archive has one. */
  root?: string;
}

function field(block: Uint8Array, offset: number, length: number): string {
  const b = Buffer.from(block.subarray(offset, offset + length));
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString("latin1");
}

function octal(block: Uint8Array, offset: number, length: number): number | undefined {
  const text = field(block, offset, length).trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
}

/** pax records (`<len> key=value\n`) as a map; undefined when malformed. */
function paxRecords(data: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) return undefined;
    const len = Number(data.subarray(at, space).toString("latin1"));
    if (!Number.isInteger(len) || len <= space - at || at + len > data.length) return undefined;
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq < 0) return undefined;
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/**
 * Reads the commit id, commit time and top directory from the start of an uncompressed
 * `git archive` tar (at least its first 2 KiB); undefined when it is not one.
 */
export function readGitArchiveHead(head: Uint8Array): GitArchiveInfo | undefined {
  if (head.length < 1024 || field(head, 257, 5) !== "ustar") return undefined;
  if (field(head, 156, 1) !== "g") return undefined;
  const size = octal(head, 124, 12);
  const mtime = octal(head, 136, 12);
  if (size === undefined || mtime === undefined || size > 4096 || head.length < 512 + size) return undefined;
  const records = paxRecords(Buffer.from(head.subarray(512, 512 + size)));
  const commit = records?.get("comment");
  if (commit === undefined || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return undefined;
  const next = 512 + Math.ceil(size / 512) * 512;
  const name = head.length >= next + 512 ? field(head, next, 100) : "";
  const type = head.length >= next + 512 ? field(head, next + 156, 1) : "";
  const root = type === "5" && /^[^/]+\/$/.test(name) ? name.slice(0, -1) : undefined;
  return { commit, commitTime: mtime, ...(root !== undefined ? { root } : {}) };
}

/** catalyst-auto's TIMESTAMP for a commit time: `%Y%m%dT%H%M%SZ` in UTC. */
export function catalystAutoTimestamp(epochSeconds: number): string {
  return new Date(epochSeconds * 1000)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}
