/**
 * A third, strict reading of the tar stream, in the validation pass beside tar-stream: a
 * Transform that passes the bytes on unchanged while it walks the headers itself, reading every
 * header block with ./header-fields.ts and skipping the data each one declares (a pax `size`
 * record applied). It errors with `unsafe_archive` at the first header a lenient parser could
 * read another way: a malformed numeric field, a wrong checksum, a missing magic, a pax record
 * that does not parse, a directory with data, a block that is zero but for its checksum.
 *
 * It follows tar-stream's rules for where the data ends (everything but a directory has its
 * `size` bytes of data), so when it accepts a stream, tar-stream saw the same headers; which
 * entries GNU tar then extracts is compared separately (./gnu-listing.ts).
 */
import { Transform, type TransformCallback } from "node:stream";
import { StagefarmError } from "../errors.js";
import { quoted } from "../util/excerpt.js";
import { BLOCK, isZeroBlock, readRawHeader } from "./header-fields.js";

/** Extended-header payloads buffered (pax, GNU long names); tar-stream allows 4 MiB. */
const MAX_EXTENSION_BYTES = 4 << 20;

const EXTENSIONS = new Set(["x", "g", "L", "K"]);

interface Extension {
  typeflag: string;
  left: number;
  padding: number;
  chunks: Buffer[];
}

export class HeaderWalker extends Transform {
  readonly #what: string;
  readonly #label: string;
  #offset = 0;
  #header = Buffer.alloc(0);
  #skip = 0;
  #ext: Extension | undefined;
  #paxSize: number | undefined;
  /** Headers read (extension headers included). */
  headers = 0;

  /** `what` names the archive at the start of messages; `label` goes into the details. */
  constructor(what: string, label: string) {
    super();
    this.#what = what;
    this.#label = label;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#walk(chunk);
    } catch (err: unknown) {
      cb(StagefarmError.from(err));
      return;
    }
    cb(null, chunk);
  }

  /** The stream ended: in the middle of a header or of an entry's data is a truncated archive. */
  override _flush(cb: TransformCallback): void {
    let why: string | undefined;
    if (this.#offset === 0 && this.#header.length > 0)
      why = `is not a tar archive (no ustar header at offset 0: it is only ${this.#header.length} bytes long)`;
    else if (this.#header.length > 0 || this.#skip > 0 || this.#ext !== undefined)
      why = "is truncated: it ends in the middle of an entry";
    cb(why === undefined ? null : this.#error(why));
  }

  #walk(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        this.#offset += n;
        continue;
      }
      const ext = this.#ext;
      if (ext !== undefined) {
        const n = Math.min(ext.left, chunk.length - i);
        ext.chunks.push(chunk.subarray(i, i + n));
        ext.left -= n;
        i += n;
        this.#offset += n;
        if (ext.left === 0) this.#finishExtension(ext);
        continue;
      }
      const n = Math.min(BLOCK - this.#header.length, chunk.length - i);
      this.#header = Buffer.concat([this.#header, chunk.subarray(i, i + n)]);
      i += n;
      if (this.#header.length === BLOCK) {
        const block = this.#header;
        this.#header = Buffer.alloc(0);
        this.#onHeader(block);
        this.#offset += BLOCK;
      }
    }
  }

  #onHeader(block: Buffer): void {
    if (isZeroBlock(block)) return; // an end-of-archive block (what may follow is compared later)
    const h = readRawHeader(block, this.#offset === 0);
    if (typeof h === "string") this.#refuse(`${h}, at offset ${this.#offset}`);
    this.headers += 1;
    if (EXTENSIONS.has(h.typeflag)) {
      if (h.size > MAX_EXTENSION_BYTES)
        this.#refuse(
          `has an extended header of ${h.size} bytes at offset ${this.#offset} (limit ${MAX_EXTENSION_BYTES})`,
        );
      this.#ext = { typeflag: h.typeflag, left: h.size, padding: padding(h.size), chunks: [] };
      if (h.size === 0) this.#finishExtension(this.#ext);
      return;
    }
    const size = this.#paxSize ?? h.size;
    this.#paxSize = undefined;
    // tar-stream also reads a regular-file header whose name ends in "/" as a directory.
    const dir = h.typeflag === "5" || (h.typeflag === "0" && (h.name === "" || h.name.endsWith("/")));
    if (dir && size !== 0)
      this.#refuse(
        `entry ${quoted(h.name)}: it is a directory with ${size} bytes of data (it carries none: tar-stream would read them as the next member)`,
      );
    this.#skip = size + padding(size);
  }

  #finishExtension(ext: Extension): void {
    this.#ext = undefined;
    this.#skip = ext.padding;
    if (ext.typeflag !== "x" && ext.typeflag !== "g") return;
    const records = parsePax(Buffer.concat(ext.chunks));
    if (typeof records === "string") this.#refuse(`has a pax header that does not parse (${records})`);
    const size = records.get("size");
    if (size === undefined) return;
    if (ext.typeflag === "g")
      this.#refuse("has a pax global header that sets the size of every later member");
    if (!/^[0-9]{1,15}$/.test(size))
      this.#refuse(`has a pax size record that is not a number (${quoted(size)})`);
    this.#paxSize = Number(size);
  }

  #refuse(reason: string): never {
    throw this.#error(reason);
  }

  #error(reason: string): StagefarmError {
    return new StagefarmError("unsafe_archive", `${this.#what} ${reason}`, {
      details: { archive: this.#label, reason },
    });
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Pax records, "<len> <key>=<value>\n" each, read strictly; a string says what is wrong. */
export function parsePax(data: Buffer): Map<string, string> | string {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data.subarray(at).every((b) => b === 0)) break; // NUL padding some writers leave
    const space = data.indexOf(0x20, at);
    const lenText = space < 0 ? "" : data.subarray(at, space).toString("latin1");
    if (!/^[1-9][0-9]{0,7}$/.test(lenText)) return `a record at byte ${at} has no length`;
    const end = at + Number(lenText);
    if (end > data.length || data[end - 1] !== 0x0a)
      return `the record at byte ${at} is not ${lenText} bytes long`;
    const record = data.subarray(space + 1, end - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq <= 0) return `the record at byte ${at} has no key`;
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at = end;
  }
  return out;
}
