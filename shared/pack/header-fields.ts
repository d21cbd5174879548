/**
 * The fields of a raw 512-byte tar header, read strictly: a header is accepted only when every
 * parser we run (tar-stream for the check, GNU tar for the listing and the extraction) must read
 * it the same way. Lenient parsers disagree at the edges — tar-stream stops an octal field at a
 * NUL that GNU tar skips, so `"\0 0001000\0\0\0"` is a size of 0 to one and 512 to the other —
 * and a disagreement on a size is a disagreement on where the next header starts.
 *
 * Numeric fields (POSIX.1-2017 ustar): optional leading spaces, one or more octal digits, then
 * only NULs or spaces to the end of the field (or no terminator when the digits fill it); a field
 * of NULs only is 0 to both parsers and accepted. GNU base-256 (first byte 0x80, as GNU tar writes
 * sizes over 8 GiB and large ids in its own format) is accepted for uid, gid, size and mtime, and
 * negative base-256 (0xff) for mtime only, up to 2^53: both parsers decode it to the same number.
 * The checksum must be the unsigned sum (GNU tar also accepts the signed one; tar-stream does not).
 * The magic must be POSIX `ustar\0` `00` or GNU `ustar ` ` \0`.
 */

import { quoted } from "../util/excerpt.js";

export const BLOCK = 512;

interface Field {
  name: string;
  offset: number;
  length: number;
  base256: "no" | "positive" | "signed";
}

const FIELDS: readonly Field[] = [
  { name: "mode", offset: 100, length: 8, base256: "no" },
  { name: "uid", offset: 108, length: 8, base256: "positive" },
  { name: "gid", offset: 116, length: 8, base256: "positive" },
  { name: "size", offset: 124, length: 12, base256: "positive" },
  { name: "mtime", offset: 136, length: 12, base256: "signed" },
  { name: "devmajor", offset: 329, length: 8, base256: "no" },
  { name: "devminor", offset: 337, length: 8, base256: "no" },
];

const CHKSUM = { name: "checksum", offset: 148, length: 8, base256: "no" } as const;

export interface RawHeader {
  typeflag: string;
  /** The name field (up to its first NUL), for messages only. */
  name: string;
  size: number;
}

/** A field's value, or why it is refused. */
type Parsed = { ok: true; value: number } | { ok: false; why: string };

function octal(f: Buffer, name: string): Parsed {
  if (f.every((b) => b === 0)) return { ok: true, value: 0 };
  let i = 0;
  while (i < f.length && f[i] === 0x20) i++;
  const start = i;
  while (i < f.length && (f[i] ?? 0) >= 0x30 && (f[i] ?? 0) <= 0x37) i++;
  if (i === start) return { ok: false, why: `its ${name} field is not an octal number (${show(f)})` };
  const digits = f.subarray(start, i).toString("latin1");
  for (; i < f.length; i++)
    if (f[i] !== 0 && f[i] !== 0x20)
      return { ok: false, why: `its ${name} field has more after the number (${show(f)})` };
  const value = parseInt(digits, 8);
  if (!Number.isSafeInteger(value)) return { ok: false, why: `its ${name} field is too large` };
  return { ok: true, value };
}

function base256(f: Buffer, name: string, negative: boolean): Parsed {
  let value = 0;
  for (const b of f.subarray(1)) value = value * 256 + (negative ? 0xff - b : b);
  if (!Number.isSafeInteger(value)) return { ok: false, why: `its ${name} field is too large` };
  return { ok: true, value: negative ? -value : value };
}

function field(block: Buffer, f: Field): Parsed {
  const raw = block.subarray(f.offset, f.offset + f.length);
  const first = raw[0] ?? 0;
  if (first === 0x80 && f.base256 !== "no") return base256(raw, f.name, false);
  if (first === 0xff && f.base256 === "signed") return base256(raw, f.name, true);
  if ((first & 0x80) !== 0)
    return { ok: false, why: `its ${f.name} field uses a binary encoding not accepted there (${show(raw)})` };
  return octal(raw, f.name);
}

function show(f: Buffer): string {
  return `"${[...f].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("")}"`;
}

export function isZeroBlock(block: Buffer): boolean {
  return block.every((b) => b === 0);
}

function hasMagic(block: Buffer): boolean {
  const magic = block.subarray(257, 265).toString("latin1");
  return magic === "ustar\u000000" || magic === "ustar  \u0000";
}

/**
 * Reads one header block; returns why it is refused as a string. `atStart`: the first block of
 * the archive (no magic there means the input is not a tar archive at all).
 */
export function readRawHeader(block: Buffer, atStart: boolean): RawHeader | string {
  if (!hasMagic(block))
    return atStart
      ? "is not a tar archive (no ustar header at offset 0)"
      : "has a header without the ustar magic (not a tar header)";
  const stored = field(block, CHKSUM);
  if (!stored.ok) return `has a header whose ${stored.why.replace(/^its /, "")}`;
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] ?? 0;
  if (sum !== stored.value)
    return `has a header with a wrong checksum (stored ${stored.value}, computed ${sum})`;
  let size = 0;
  for (const f of FIELDS) {
    const v = field(block, f);
    if (!v.ok) return `has a header (for ${quoted(nameOf(block))}) whose ${v.why.replace(/^its /, "")}`;
    if (f.name === "size") size = v.value;
  }
  const flag = block[156] ?? 0;
  return { typeflag: flag === 0 ? "0" : String.fromCharCode(flag), name: nameOf(block), size };
}

function nameOf(block: Buffer): string {
  const end = block.indexOf(0, 0);
  return block.subarray(0, end < 0 || end > 100 ? 100 : end).toString("utf8");
}
