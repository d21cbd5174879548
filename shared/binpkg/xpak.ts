/**
 * Legacy xpak packages: `<compressed tar><XPAK segment><u32 segment length>STOP`, where the
 * segment is `XPAKPACK <u32 index length> <u32 data length> <index> <data> XPAKSTOP` and each
 * index entry is `<u32 name length> <name> <u32 data offset> <u32 data length>` (integers
 * big-endian). Only the trailer and the segment are read; the tarball is left alone.
 */
import { open } from "node:fs/promises";
import { corrupt } from "./binpkg-error.js";
import { compressionFromMagic } from "./compression.js";
import type { BinpkgCompression } from "./types.js";

const PACK = Buffer.from("XPAKPACK");
const STOP = Buffer.from("XPAKSTOP");
const TRAILER = Buffer.from("STOP");
/** "XPAKSTOP" + u32 + "STOP". */
export const XPAK_TRAILER_BYTES = 16;
/** An XPAK segment is a few kilobytes; refuse absurd lengths before allocating. */
const MAX_SEGMENT_BYTES = 64 << 20;

/** Whether the last 16 bytes of a file are an XPAK trailer. */
export function isXpakTrailer(tail: Uint8Array): boolean {
  const t = Buffer.from(tail);
  return (
    t.length === XPAK_TRAILER_BYTES && t.subarray(0, 8).equals(STOP) && t.subarray(12, 16).equals(TRAILER)
  );
}

/** Parses an XPAK segment (XPAKPACK … XPAKSTOP) into name → bytes; throws a plain Error. */
export function parseXpakSegment(seg: Buffer): Map<string, Buffer> {
  if (seg.length < 24 || !seg.subarray(0, 8).equals(PACK))
    throw new Error("the segment does not start with XPAKPACK");
  if (!seg.subarray(seg.length - 8).equals(STOP)) throw new Error("the segment does not end with XPAKSTOP");
  const indexLen = seg.readUInt32BE(8);
  const dataLen = seg.readUInt32BE(12);
  if (16 + indexLen + dataLen + 8 !== seg.length)
    throw new Error(
      `index (${indexLen} bytes) and data (${dataLen} bytes) do not fill the ${seg.length}-byte segment`,
    );
  const index = seg.subarray(16, 16 + indexLen);
  const data = seg.subarray(16 + indexLen, 16 + indexLen + dataLen);
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < index.length) {
    if (pos + 4 > index.length) throw new Error(`index entry at ${pos} is cut off`);
    const nameLen = index.readUInt32BE(pos);
    if (pos + 4 + nameLen + 8 > index.length) throw new Error(`index entry at ${pos} is cut off`);
    const name = index.subarray(pos + 4, pos + 4 + nameLen).toString("utf8");
    const off = index.readUInt32BE(pos + 4 + nameLen);
    const len = index.readUInt32BE(pos + 8 + nameLen);
    if (off + len > data.length)
      throw new Error(`entry ${name} (${len} bytes at ${off}) lies outside the ${data.length}-byte data`);
    if (out.has(name)) throw new Error(`entry ${name} is listed twice`);
    out.set(name, data.subarray(off, off + len));
    pos += 12 + nameLen;
  }
  return out;
}

/** Encodes name → bytes as an XPAK segment (the inverse of {@link parseXpakSegment}). */
export function encodeXpakSegment(entries: ReadonlyMap<string, Uint8Array>): Buffer {
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let offset = 0;
  for (const [name, value] of entries) {
    const n = Buffer.from(name, "utf8");
    const head = Buffer.alloc(4);
    head.writeUInt32BE(n.length);
    const tail = Buffer.alloc(8);
    tail.writeUInt32BE(offset, 0);
    tail.writeUInt32BE(value.length, 4);
    index.push(head, n, tail);
    data.push(Buffer.from(value));
    offset += value.length;
  }
  const idx = Buffer.concat(index);
  const dat = Buffer.concat(data);
  const lens = Buffer.alloc(8);
  lens.writeUInt32BE(idx.length, 0);
  lens.writeUInt32BE(dat.length, 4);
  return Buffer.concat([PACK, lens, idx, dat, STOP]);
}

export interface XpakContents {
  entries: Map<string, Buffer>;
  /** Compression of the tarball before the segment. */
  compression: BinpkgCompression;
  /** Length of the tarball: the bytes before the segment (what portage decompresses). */
  tarballBytes: number;
}

/** Reads the XPAK segment of `file` (whose size is `size` and last 16 bytes are a trailer). */
export async function readXpak(file: string, size: number): Promise<XpakContents> {
  const fh = await open(file, "r");
  try {
    const tail = Buffer.alloc(XPAK_TRAILER_BYTES);
    await fh.read(tail, 0, tail.length, size - tail.length);
    const segLen = tail.readUInt32BE(8);
    if (segLen > MAX_SEGMENT_BYTES || segLen + 8 > size)
      throw corrupt(file, `the XPAK trailer gives a segment of ${segLen} bytes, which the file cannot hold`);
    if (segLen + 8 === size) throw corrupt(file, "there is no tarball before the XPAK segment");
    const seg = Buffer.alloc(segLen);
    const { bytesRead } = await fh.read(seg, 0, segLen, size - 8 - segLen);
    if (bytesRead !== segLen) throw corrupt(file, "the file shrank while its XPAK segment was read");
    let entries: Map<string, Buffer>;
    try {
      entries = parseXpakSegment(seg);
    } catch (err: unknown) {
      throw corrupt(file, `invalid XPAK segment: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    const head = Buffer.alloc(16);
    const got = await fh.read(head, 0, Math.min(head.length, size - 8 - segLen), 0);
    return {
      entries,
      compression: compressionFromMagic(head.subarray(0, got.bytesRead)),
      tarballBytes: size - 8 - segLen,
    };
  } finally {
    await fh.close();
  }
}
