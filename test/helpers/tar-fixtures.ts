/**
 * Hand-made tar archives for the unpack tests, hostile ones included: entries are written with
 * tar-stream's pack (one entry at a time, so raw blocks can be put between them), and the few
 * headers tar-stream cannot write (pax global headers, unknown type flags) by a tiny raw ustar
 * encoder. Also: extended attributes set and read through GNU tar itself (the machine has no
 * setfattr/getfattr), and archive listings for assertions.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { extract, pack, type Header } from "tar-stream";

export type FixtureCompression = "zstd" | "xz" | "bzip2" | "gzip" | "none";

/** One archive member; `raw` entries are written byte for byte with {@link rawHeader}. */
export type FixtureEntry =
  | {
      name: string;
      type?: "file" | "contiguous-file";
      content?: string | Buffer;
      mode?: number;
      uid?: number;
      gid?: number;
      pax?: Record<string, string>;
    }
  | { name: string; type: "directory"; mode?: number; pax?: Record<string, string> }
  | { name: string; type: "symlink" | "link"; linkname: string; pax?: Record<string, string> }
  | { name: string; type: "character-device" | "block-device"; devmajor: number; devminor: number }
  | { raw: Buffer };

/** Shorthands for the common entries. */
export const regular = (name: string, content: string | Buffer = ""): FixtureEntry => ({ name, content });
export const dir = (name: string, mode?: number): FixtureEntry => ({ name, type: "directory", mode });
export const symlink = (name: string, linkname: string): FixtureEntry => ({
  name,
  type: "symlink",
  linkname,
});
export const hardlink = (name: string, linkname: string): FixtureEntry => ({ name, type: "link", linkname });
/** A GNU long name ("L") or long link name ("K") record for the entry after it. */
export const longName = (typeflag: "L" | "K", name: string): FixtureEntry => ({
  raw: rawHeader("././@LongLink", typeflag, Buffer.from(`${name}\0`)),
});

const BLOCK = 512;
const MTIME = new Date(1_700_000_000_000);

/** The bytes of an uncompressed tar archive holding `entries`, end-of-archive blocks included. */
export async function tarBytes(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push("raw" in e ? e.raw : await packOne(e));
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** Writes `entries` as a tar archive to `file`, compressed with the given tool. */
export async function writeTar(
  file: string,
  entries: readonly FixtureEntry[],
  compression: FixtureCompression = "none",
): Promise<void> {
  await writeFile(file, await compress(await tarBytes(entries), compression));
}

/** `data` through `zstd`/`xz`/`bzip2`/`gzip -c` (unchanged for "none"). */
export async function compress(data: Buffer, compression: FixtureCompression): Promise<Buffer> {
  if (compression === "none") return data;
  const { stdout } = await execa(compression, ["-c", "-q"], { input: data, encoding: "buffer" });
  return Buffer.from(stdout);
}

/** One entry as tar-stream writes it (header, pax header if needed, content, padding). */
async function packOne(e: Exclude<FixtureEntry, { raw: Buffer }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  const header: Partial<Header> & { name: string } = { name: e.name, mtime: MTIME, uid: 0, gid: 0 };
  let body: Buffer = Buffer.alloc(0);
  switch (e.type) {
    case undefined:
    case "file":
    case "contiguous-file":
      body = Buffer.from(e.content ?? "");
      Object.assign(header, {
        type: e.type ?? "file",
        mode: e.mode ?? 0o644,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
      });
      if (e.pax) header.pax = e.pax;
      break;
    case "directory":
      Object.assign(header, { type: "directory", mode: e.mode ?? 0o755 });
      if (e.pax) header.pax = e.pax;
      break;
    case "symlink":
    case "link":
      Object.assign(header, { type: e.type, linkname: e.linkname, mode: 0o777 });
      if (e.pax) header.pax = e.pax;
      break;
    case "character-device":
    case "block-device":
      Object.assign(header, { type: e.type, mode: 0o600, devmajor: e.devmajor, devminor: e.devminor });
      break;
  }
  header.size = body.length;
  await new Promise<void>((resolve, reject) => {
    p.entry(header, body, (err) => (err ? reject(err) : resolve()));
  });
  p.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 2 * BLOCK); // without pack's end-of-archive blocks
}

/**
 * A raw ustar header block (plus its data, padded) with any type flag: "g" for a pax global
 * header (pass the records as `data`), or a flag no tool knows.
 */
export function rawHeader(name: string, typeflag: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  h.write(
    `${Math.floor(MTIME.getTime() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
    136,
    "ascii",
  );
  h.write("        ", 148, "ascii");
  h.write(typeflag, 156, 1, "ascii");
  h.write("ustar\0" + "00", 257, "binary");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([h, data, Buffer.alloc(pad)]);
}

/** Pax records ("len key=value\n") for a raw "x" or "g" header. */
export function paxRecords(records: Record<string, string>): Buffer {
  let out = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (Buffer.byteLength(`${len}${body}`) !== len) len += 1;
    out += `${len}${body}`;
  }
  return Buffer.from(out, "utf8");
}

/** Creates the file `dir/name` with `content` and the given xattrs, by having GNU tar extract it. */
export async function writeFileWithXattrs(
  dir: string,
  name: string,
  content: string,
  xattrs: Record<string, string>,
): Promise<void> {
  const pax: Record<string, string> = {};
  for (const [k, v] of Object.entries(xattrs)) pax[`SCHILY.xattr.${k}`] = v;
  const data = await tarBytes([{ name, content, pax }]);
  await execa("tar", ["-x", "--xattrs", "--xattrs-include=*", "-C", dir, "-f", "-"], { input: data });
}

/** The xattrs of `dir/name` as GNU tar reads them from the file system (values as UTF-8 text). */
export async function readXattrs(dir: string, name: string): Promise<Record<string, string>> {
  const { stdout } = await execa(
    "tar",
    ["-c", "--format=posix", "--xattrs", "--xattrs-include=*", "--no-recursion", "-C", dir, name],
    { encoding: "buffer" },
  );
  const [first] = await listTar(Buffer.from(stdout));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first?.pax ?? {}))
    if (k.startsWith("SCHILY.xattr.")) out[k.slice("SCHILY.xattr.".length)] = v;
  return out;
}

export interface ListedEntry {
  name: string;
  type: string;
  uid: number;
  gid: number;
  mode: number;
  linkname: string | null;
  pax: Record<string, string>;
}

/** The headers of an uncompressed tar archive, in order. */
export async function listTar(data: Buffer): Promise<ListedEntry[]> {
  const ex = extract();
  const out: ListedEntry[] = [];
  ex.end(data);
  for await (const e of ex) {
    const h = e.header;
    const pax: unknown = h.pax;
    const linkname: unknown = h.linkname;
    out.push({
      name: h.name,
      type: h.type,
      uid: h.uid,
      gid: h.gid,
      mode: h.mode,
      linkname: typeof linkname === "string" ? linkname : null,
      pax: typeof pax === "object" && pax !== null ? (pax as Record<string, string>) : {},
    });
    e.resume();
  }
  return out;
}

/** The headers of a tar.zst file. */
export async function listTarZst(file: string): Promise<ListedEntry[]> {
  const { stdout } = await execa("zstd", ["-dc", "-q", "--", file], { encoding: "buffer" });
  return await listTar(Buffer.from(stdout));
}

/** What a tree looks like, for comparing two trees (atimes and ctimes left out). */
export interface TreeNode {
  type: "dir" | "file" | "symlink" | "fifo" | "char" | "block" | "other";
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  /** For the second and later names of a hardlinked file: the first name (in sorted order). */
  hardlinkOf?: string;
}

/** Every entry below `dir` (relative paths, "" for `dir` itself), in sorted order. */
export async function snapshotTree(dir: string): Promise<Map<string, TreeNode>> {
  const out = new Map<string, TreeNode>();
  const inodes = new Map<bigint, string>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === "" ? dir : join(dir, rel);
    const st = await lstat(abs, { bigint: true });
    const node: TreeNode = {
      type: st.isDirectory()
        ? "dir"
        : st.isFile()
          ? "file"
          : st.isSymbolicLink()
            ? "symlink"
            : st.isFIFO()
              ? "fifo"
              : st.isCharacterDevice()
                ? "char"
                : st.isBlockDevice()
                  ? "block"
                  : "other",
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeMs: Number(st.mtimeMs),
    };
    if (node.type === "file") {
      const first = inodes.get(st.ino);
      if (first !== undefined) node.hardlinkOf = first;
      else inodes.set(st.ino, rel);
      node.size = Number(st.size);
      node.sha256 = createHash("sha256")
        .update(await readFile(abs))
        .digest("hex");
    }
    if (node.type === "symlink") node.target = await readlink(abs);
    if (node.type === "char" || node.type === "block") node.rdev = Number(st.rdev);
    out.set(rel, node);
    if (node.type === "dir")
      for (const name of (await readdir(abs)).sort()) await visit(rel === "" ? name : `${rel}/${name}`);
  };
  await visit("");
  return out;
}
