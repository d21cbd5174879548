/**
 * Reading tar-stream's view of an entry the way the unpack checks need it: its header with the
 * nulls its declarations omit, the pax global header in force, and a byte counter for the
 * stream in front of it. Shared by the unpacker's scan and `stagefarm diff`'s tree index.
 */
import { Transform, type TransformCallback } from "node:stream";
import type { Extract, Header } from "tar-stream";
import { StagefarmError } from "../errors.js";
import type { EntryHeader } from "./entry-validator.js";

/** tar-stream's header, read defensively: its declarations omit the nulls it really produces. */
export function toEntryHeader(h: Header): EntryHeader {
  const type: unknown = h.type;
  const linkname: unknown = h.linkname;
  const pax: unknown = h.pax;
  return {
    name: h.name,
    type: typeof type === "string" ? type : null,
    linkname: typeof linkname === "string" ? linkname : null,
    size: h.size ?? 0,
    pax: isStringRecord(pax) ? pax : null,
  };
}

/**
 * The pax global header in force. tar-stream applies a global header only to members that also
 * have a local pax header, while GNU tar applies it to all: the validator must see it, so it is
 * read from tar-stream's parser state (pinned version; checked here so an upgrade that renames
 * the field fails closed instead of silently skipping the check).
 */
export function globalPaxOf(extract: Extract): Record<string, string> | null {
  if (!("_paxGlobal" in extract))
    throw new StagefarmError("internal", "tar-stream no longer exposes its pax global header (_paxGlobal)");
  const g: unknown = Reflect.get(extract, "_paxGlobal");
  if (g === null || g === undefined) return null;
  if (!isStringRecord(g))
    throw new StagefarmError("internal", "tar-stream's pax global header has an unexpected shape");
  return g;
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && Object.values(v).every((x) => typeof x === "string");
}

/** Counts the bytes passing through (an empty stream is not a tar archive). */
export class ByteCounter extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}
