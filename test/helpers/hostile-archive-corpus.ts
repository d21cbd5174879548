/**
 * The hostile-archive corpus, written by the tests themselves (tar-stream for ordinary entries,
 * raw ustar blocks for what no tool writes): `..` and absolute paths, writes through symlinks,
 * symlink and hardlink escapes, device nodes, a directory replaced by a symlink, a pax global
 * header, truncated, non-tar and empty input, members after the end marker. Each case says which
 * entry a refusal must name (if any) and the reason it must give; assertRefusal checks both.
 *
 * Two cases are parser differentials found while building this corpus: a hardlink carrying a
 * size (GNU tar ignores it and reads the "data" as the next member, which tar-stream skips) and
 * a size field GNU tar reads differently from tar-stream; both hide a device node from a check
 * that only used tar-stream. The check now also compares GNU tar's own listing.
 *
 * Issue 13 added: a FIFO, a symlink and a directory carrying a size (hiding a device node or an
 * escaping symlink from tar-stream and `tar --list`, not from `tar --extract`); a size field
 * read as 0 by tar-stream and 512 by GNU tar; a 2000-level deep tree, a path too long for the
 * destination and a 256-byte path component; an archive that unpacks to 100 GiB; short and
 * long non-tar input, named as such.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { packTreeToFile } from "../../shared/pack/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import {
  compress,
  dir,
  hardlink,
  longName,
  paxRecords,
  rawHeader,
  regular,
  symlink,
  tarBytes,
  type FixtureEntry,
} from "./tar-fixtures.js";

/** One hostile archive: its bytes, the entry a refusal must name (if any), the reason it must give. */
export interface HostileCase {
  name: string;
  bytes: Buffer;
  entry?: string;
  reason: RegExp;
}

/** Rewrites `text` into a raw header block at `offset` and fixes its checksum. */
function patchHeader(block: Buffer, offset: number, text: string): Buffer {
  Buffer.from(text, "latin1").copy(block, offset);
  block.write("        ", 148, "ascii");
  let sum = 0;
  for (const b of block.subarray(0, 512)) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}

/** A raw character-device header (c 1 3), the member hidden by the differential cases. */
function hiddenDevice(): Buffer {
  const h = rawHeader("hidden-null", "3");
  patchHeader(h, 329, "0000001\0");
  return patchHeader(h, 337, "0000003\0");
}

/** A raw symlink header "evil" -> "../../sentinel", the member hidden by the symlink-with-size case. */
function hiddenSymlink(): Buffer {
  return patchHeader(rawHeader("evil", "2"), 157, "../../sentinel\0");
}

/** A path `depth` components deep, each `width` bytes ("aaa/aaa/…/f"). */
function deepPath(depth: number, width: number): string {
  return `${Array.from({ length: depth - 1 }, () => "a".repeat(width)).join("/")}/f`;
}

/** A GNU sparse (pax 1.0) file whose real size is `realSize` bytes, holding one data byte. */
function sparseFile(name: string, realSize: number): FixtureEntry {
  const map = Buffer.alloc(512);
  map.write(`1\n${realSize - 1}\n1\n`, "latin1");
  return {
    name: `GNUSparseFile.0/${name}`,
    content: Buffer.concat([map, Buffer.from("x")]),
    pax: {
      "GNU.sparse.major": "1",
      "GNU.sparse.minor": "0",
      "GNU.sparse.name": name,
      "GNU.sparse.realsize": String(realSize),
    },
  };
}

const END = Buffer.alloc(1024);

/** A zstd-compressed tar of `entries`. */
export async function zst(entries: FixtureEntry[]): Promise<Buffer> {
  return await compress(await tarBytes(entries), "zstd");
}

/** The corpus; hostile paths aim at `sentinel`; `scratch` is a directory for building cases. */
export async function corpus(sentinel: string, scratch: string): Promise<HostileCase[]> {
  const S = sentinel;
  const keep = join(S, "keep");
  const through = /would be written through the symlink "link"/;
  const escapes = /leads outside the extraction root/;
  const replaces = /would replace the earlier directory "a" with a symlink/;

  const hlWithData = patchHeader(rawHeader("hl", "1", hiddenDevice()), 157, "target\0");
  const badSize = rawHeader("innocent", "0", hiddenDevice());
  patchHeader(badSize, 124, "00000001000x");
  const goodTree = join(scratch, "good-tree");
  await mkdir(join(goodTree, "d"), { recursive: true });
  await writeFile(join(goodTree, "d/data"), randomBytes(200_000));
  const goodZst = join(scratch, "good.tar.zst");
  await packTreeToFile(goodTree, goodZst);
  const cutTar = await tarBytes([regular("big", randomBytes(100_000))]);
  const fifoWithData = rawHeader("fifo", "6", hiddenDevice());
  const symlinkWithData = patchHeader(rawHeader("s", "2", hiddenSymlink()), 157, "ok\0");
  const dirWithData = rawHeader("d/", "5", hiddenDevice());
  // tar-stream stops the size field at its leading NUL (0), GNU tar skips it (512): GNU tar
  // reads "pad" as data and extracts the device that tar-stream reads as the data of "pad".
  const nulSize = patchHeader(rawHeader("innocent", "0"), 124, "\0 0001000\0\0\0");
  const pad = rawHeader("pad", "0", hiddenDevice());

  return [
    {
      name: '".." member',
      bytes: await zst([regular("../sentinel/evil", "x")]),
      entry: "../sentinel/evil",
      reason: /has a "\.\." component/,
    },
    {
      name: '".." in a pax path record',
      bytes: await zst([{ name: "innocent", content: "x", pax: { path: "../sentinel/evil" } }]),
      entry: "../sentinel/evil",
      reason: /has a "\.\." component/,
    },
    {
      name: "absolute member",
      bytes: await zst([regular(`${S}/evil`, "x")]),
      entry: `${S}/evil`,
      reason: /absolute path/,
    },
    {
      name: "absolute GNU long name",
      bytes: await zst([longName("L", `${S}/evil`), regular("innocent", "x")]),
      entry: `${S}/evil`,
      reason: /absolute path/,
    },
    {
      name: "absolute symlink, then a write through it",
      bytes: await zst([symlink("link", S), regular("link/evil", "x")]),
      entry: "link/evil",
      reason: through,
    },
    {
      name: "relative symlink, then a write through it",
      bytes: await zst([dir("sub"), symlink("link", "sub"), regular("link/x", "x")]),
      entry: "link/x",
      reason: through,
    },
    {
      name: "symlink, then a hardlink through it",
      bytes: await zst([regular("f", "x"), symlink("link", S), hardlink("link/hl", "f")]),
      entry: "link/hl",
      reason: through,
    },
    {
      name: "relative symlink escaping the root",
      bytes: await zst([dir("a"), symlink("a/l", "../../sentinel")]),
      entry: "a/l",
      reason: escapes,
    },
    {
      name: "relative symlink escaping through another symlink",
      bytes: await zst([dir("d"), symlink("d/up", ".."), symlink("x", "d/up/../sentinel")]),
      entry: "x",
      reason: /leads outside the extraction root \(through the symlink "d\/up"\)/,
    },
    {
      name: "symlink target replaced by a pax linkpath record",
      bytes: await zst([{ name: "s", type: "symlink", linkname: "ok", pax: { linkpath: "../sentinel" } }]),
      entry: "s",
      reason: escapes,
    },
    {
      name: "symlink target from a GNU long link name",
      bytes: await zst([longName("K", "../../sentinel"), symlink("s", "x")]),
      entry: "s",
      reason: escapes,
    },
    {
      name: "hardlink to an absolute path",
      bytes: await zst([hardlink("hl", keep)]),
      entry: "hl",
      reason: /hardlink.*absolute path/,
    },
    {
      name: "hardlink out of the root",
      bytes: await zst([hardlink("hl", "../sentinel/keep")]),
      entry: "hl",
      reason: /hardlink.*"\.\." component/,
    },
    {
      name: "hardlink to a symlink pointing out",
      bytes: await zst([symlink("s", keep), hardlink("hl", "s")]),
      entry: "hl",
      reason: /not an earlier regular file/,
    },
    {
      name: "hardlink to a later member",
      bytes: await zst([hardlink("hl", "later"), regular("later", "x")]),
      entry: "hl",
      reason: /not an earlier regular file/,
    },
    {
      name: "hardlink with a size hiding a device node",
      bytes: await compress(
        Buffer.concat([
          await tarBytes([regular("target", "x")]).then((b) => b.subarray(0, b.length - 1024)),
          hlWithData,
          END,
        ]),
        "zstd",
      ),
      entry: "hl",
      reason: /hardlink with 512 bytes of data/,
    },
    {
      name: "size field GNU tar reads differently, hiding a device node",
      bytes: await compress(Buffer.concat([badSize, END]), "zstd"),
      reason: /\(zstd\) has a header \(for "innocent"\) whose size field has more after the number/,
    },
    {
      name: "size field read as 0 by tar-stream and 512 by GNU tar, hiding a device node",
      bytes: await compress(Buffer.concat([nulSize, pad, END]), "zstd"),
      reason: /has a header \(for "innocent"\) whose size field is not an octal number \("\\x00 0001000/,
    },
    {
      name: "FIFO with a size hiding a device node",
      bytes: await compress(Buffer.concat([fifoWithData, END]), "zstd"),
      entry: "fifo",
      reason: /it is a fifo with 512 bytes of data/,
    },
    {
      name: "symlink with a size hiding an escaping symlink",
      bytes: await compress(Buffer.concat([symlinkWithData, END]), "zstd"),
      entry: "s",
      reason: /it is a symlink with 512 bytes of data/,
    },
    {
      name: "directory with a size hiding a device node",
      bytes: await compress(Buffer.concat([dirWithData, END]), "zstd"),
      entry: "d/",
      reason: /it is a directory with 512 bytes of data/,
    },
    {
      name: "2000-level deep tree",
      bytes: await zst([regular(deepPath(2000, 1), "x")]),
      entry: deepPath(2000, 1),
      reason: /its path is 2000 directories deep, over the limit of 256/,
    },
    {
      name: "path too long to extract below the destination",
      bytes: await zst([regular(deepPath(81, 50), "x")]),
      entry: deepPath(81, 50),
      reason:
        /its path is 4081 bytes long, over the limit of \d+ bytes \(PATH_MAX less the destination's own path\)/,
    },
    {
      name: "256-byte path component",
      bytes: await zst([regular(`z/${"n".repeat(256)}`, "x")]),
      entry: `z/${"n".repeat(256)}`,
      reason: /path component longer than 255 bytes: "n{60}…\(196 more\)" \(256 bytes\)/,
    },
    {
      name: "sparse file unpacking to 100 GiB",
      bytes: await zst([sparseFile("huge", 100 * 2 ** 30)]),
      entry: "huge",
      reason: /unpacks to more than 68719476736 bytes, the limit per input/,
    },
    {
      name: "obsolete GNU names header (tar-stream and GNU tar disagree)",
      bytes: await zst([{ raw: rawHeader("././@LongLink", "N", Buffer.from("x\0")) }, regular("f", "y")]),
      reason:
        /GNU tar reads member 1 as "\.\/\.\/@LongLink" where the check read "x": the archive's headers are ambiguous/,
    },
    {
      name: "character device node",
      bytes: await zst([{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }]),
      entry: "null",
      reason: /character device node/,
    },
    {
      name: "block device node",
      bytes: await zst([{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }]),
      entry: "sda",
      reason: /block device node/,
    },
    {
      name: "directory replaced by a symlink, then written through",
      bytes: await zst([dir("a"), symlink("a", join(S, "etc")), regular("a/passwd", "x")]),
      entry: "a",
      reason: replaces,
    },
    {
      name: "implied directory replaced by a symlink",
      bytes: await zst([regular("a/f", "x"), symlink("a", join(S, "etc"))]),
      entry: "a",
      reason: replaces,
    },
    {
      name: "the root replaced by a symlink",
      bytes: await zst([symlink("./", S)]),
      entry: "./",
      reason: /extraction root/,
    },
    {
      name: "pax global header renaming every member",
      bytes: await zst([
        { raw: rawHeader("pax_global_header", "g", paxRecords({ path: "../sentinel/evil" })) },
        regular("innocent", "x"),
      ]),
      entry: "innocent",
      reason: /global header sets path/,
    },
    {
      name: "tar cut in the middle of a member",
      bytes: cutTar.subarray(0, 50_000),
      reason: /is truncated: it ends in the middle of an entry/,
    },
    {
      name: "truncated zstd stream",
      bytes: (await readFile(goodZst)).subarray(0, 100_000),
      reason: /\(zstd\) is truncated or corrupt/,
    },
    {
      name: "random bytes",
      bytes: randomBytes(10_000),
      reason: /is not a tar archive \(no ustar header at offset 0\)/,
    },
    {
      name: "plain text shorter than a tar block",
      bytes: Buffer.from("just text\n"),
      reason: /is not a tar archive \(no ustar header at offset 0: it is only 10 bytes long\)/,
    },
    {
      name: "gzip of plain text",
      bytes: await compress(Buffer.from("just text\n".repeat(100)), "gzip"),
      reason: /\(gzip\) is not a tar archive \(no ustar header at offset 0\)/,
    },
    { name: "empty input", bytes: Buffer.alloc(0), reason: /is empty: not a tar archive/ },
    {
      name: "members after the end-of-archive marker",
      bytes: await compress(
        Buffer.concat([await tarBytes([regular("a", "1")]), await tarBytes([regular("b", "2")])]),
        "zstd",
      ),
      reason: /GNU tar stops after 1 of the 2 members the check saw/,
    },
  ];
}

/** `err` is the refusal `c` must cause: unsafe_archive, its reason, and its entry (if any). */
export function assertRefusal(err: unknown, c: HostileCase, where: string): asserts err is StagefarmError {
  assert.ok(
    err instanceof StagefarmError,
    `${c.name} (${where}): expected a StagefarmError, got ${String(err)}`,
  );
  assert.equal(err.code, "unsafe_archive", `${c.name} (${where}): ${err.code}: ${err.message}`);
  assert.match(err.message, c.reason, `${c.name} (${where})`);
  if (c.entry !== undefined)
    assert.ok(
      err.message.includes(`entry "${excerpt(c.entry, 300)}"`),
      `${c.name} (${where}): ${err.message}`,
    );
}
