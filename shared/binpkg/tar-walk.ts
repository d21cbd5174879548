/**
 * A strict walk over a binary package's payload tar (a gpkg's image archive, an xpak's
 * tarball), fed chunk by chunk as it is decompressed, holding at most one header and one
 * extended header in memory. It reads the archive the way the tools portage extracts it with do
 * (Python's tarfile for a gpkg image, GNU tar for an xpak tarball), and refuses where either
 * would fail or would silently stop early:
 *
 * - every header's checksum must be right (the unsigned or the signed sum: both tools accept
 *   either) and its size field a number (octal, or GNU base-256); a damaged header in the middle
 *   is refused, where tarfile would take it for the end and install half the package;
 * - the data of the last entry must be there in full (a cut archive is refused);
 * - the first zero block ends the archive, as for both tools: what follows (the rest of the end
 *   marker, the record padding) is not read, so trailing zeros are accepted;
 * - the stream ending at a header boundary without an end marker is accepted (both tools do);
 *   an archive without a single entry is refused (tarfile refuses an empty image).
 *
 * pax `size` records apply to the next entry; GNU long names (`L`, `K`) and pax headers are
 * skipped like any entry's data; an old GNU sparse header (`S`) may be followed by extension
 * blocks (its `isextended` byte), which are skipped too.
 */

const BLOCK = 512;
/** pax extended headers are a few hundred bytes; tarfile and GNU tar read them whole too. */
const MAX_PAX_BYTES = 1 << 20;

type State =
  | { t: "header" }
  | { t: "data"; left: number }
  | { t: "pax"; left: number; padding: number; chunks: Buffer[] }
  | { t: "sparse-ext" }
  | { t: "ended" };

export class TarWalker {
  #state: State = { t: "header" };
  #block: Buffer = Buffer.alloc(0);
  #offset = 0;
  #paxSize: number | undefined;
  /** Data of an old GNU sparse entry, skipped after its extension blocks. */
  #sparseData = 0;
  /** Entries read (extension headers not counted). */
  entries = 0;

  /** Feeds the next bytes; throws a plain Error saying what is wrong and where. */
  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const s = this.#state;
      if (s.t === "ended") return;
      if (s.t === "data") {
        const n = Math.min(s.left, chunk.length - i);
        s.left -= n;
        i += n;
        this.#offset += n;
        if (s.left === 0) this.#state = { t: "header" };
        continue;
      }
      if (s.t === "pax") {
        const n = Math.min(s.left, chunk.length - i);
        s.chunks.push(chunk.subarray(i, i + n));
        s.left -= n;
        i += n;
        this.#offset += n;
        if (s.left === 0) this.#finishPax(s);
        continue;
      }
      const n = Math.min(BLOCK - this.#block.length, chunk.length - i);
      this.#block =
        this.#block.length === 0
          ? chunk.subarray(i, i + n)
          : Buffer.concat([this.#block, chunk.subarray(i, i + n)]);
      i += n;
      if (this.#block.length === BLOCK) {
        const block = Buffer.from(this.#block);
        this.#block = Buffer.alloc(0);
        if (s.t === "sparse-ext") this.#onSparseExtension(block);
        else this.#onHeader(block);
        this.#offset += BLOCK;
      }
    }
  }

  /** Whether the end-of-archive block was read (the rest of the input does not matter). */
  get ended(): boolean {
    return this.#state.t === "ended";
  }

  /** The input is over: throws when it ended inside an entry, or held no entry at all. */
  end(): void {
    const s = this.#state;
    if (s.t !== "ended" && (this.#block.length > 0 || s.t !== "header"))
      throw new Error(
        `the tar archive is truncated: it ends in the middle of an entry (at byte ${this.#offset + this.#block.length})`,
      );
    if (this.entries === 0) throw new Error("the tar archive holds no entries");
  }

  #onHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      if (this.entries === 0)
        throw new Error("the tar archive holds no entries (it starts with an end-of-archive block)");
      this.#state = { t: "ended" };
      return;
    }
    const where = `at byte ${this.#offset}`;
    let size: number;
    try {
      checkChecksum(block, where);
      size = numberField(block, 124, 12, "size", where);
    } catch (err: unknown) {
      if (this.#offset !== 0) throw err;
      throw new Error(`not a tar archive (${err instanceof Error ? err.message : String(err)})`, {
        cause: err,
      });
    }
    const type = String.fromCharCode(block[156] ?? 0x30);
    if (type === "x" || type === "g") {
      if (size > MAX_PAX_BYTES)
        throw new Error(`a pax header of ${size} bytes ${where} (limit ${MAX_PAX_BYTES})`);
      const pax = { t: "pax" as const, left: size, padding: padding(size), chunks: [] };
      if (type === "g")
        this.#state = size === 0 ? { t: "header" } : { t: "data", left: size + padding(size) };
      else if (size === 0) this.#finishPax(pax);
      else this.#state = pax;
      return;
    }
    if (type === "L" || type === "K") {
      this.#state = size === 0 ? { t: "header" } : { t: "data", left: size + padding(size) };
      return;
    }
    this.entries += 1;
    const dataSize = this.#paxSize ?? size;
    this.#paxSize = undefined;
    // Links, directories, devices and fifos carry no data, whatever their size field says.
    const hasData = type === "0" || type === "\0" || type === "7" || type === "S" || !"123456".includes(type);
    const skip = hasData ? dataSize + padding(dataSize) : 0;
    this.#sparseData = type === "S" ? skip : 0;
    if (type === "S" && block[482] !== 0) this.#state = { t: "sparse-ext" };
    else this.#state = skip === 0 ? { t: "header" } : { t: "data", left: skip };
  }

  #onSparseExtension(block: Buffer): void {
    if (block[504] !== 0) return; // another extension block follows
    const skip = this.#sparseData;
    this.#state = skip === 0 ? { t: "header" } : { t: "data", left: skip };
  }

  #finishPax(p: { left: number; padding: number; chunks: Buffer[] }): void {
    const size = paxSize(Buffer.concat(p.chunks), `the pax header before byte ${this.#offset}`);
    if (size !== undefined) this.#paxSize = size;
    this.#state = p.padding === 0 ? { t: "header" } : { t: "data", left: p.padding };
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function checkChecksum(block: Buffer, where: string): void {
  const stored = numberField(block, 148, 8, "checksum", where);
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i] ?? 0;
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  if (stored !== unsigned && stored !== signed)
    throw new Error(
      `the tar header ${where} is damaged: its checksum is wrong (stored ${stored}, computed ${unsigned})`,
    );
}

/** A numeric header field: NUL/space padded octal, or GNU base-256 (first byte 0x80). */
function numberField(block: Buffer, offset: number, length: number, name: string, where: string): number {
  const f = block.subarray(offset, offset + length);
  if (f[0] === 0x80) {
    let v = 0;
    for (const b of f.subarray(1)) v = v * 256 + b;
    if (!Number.isSafeInteger(v))
      throw new Error(`the ${name} field of the tar header ${where} is too large`);
    return v;
  }
  const end = f.indexOf(0);
  const text = f
    .subarray(0, end < 0 ? f.length : end)
    .toString("latin1")
    .trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text))
    throw new Error(`the ${name} field of the tar header ${where} is not a number ("${text}")`);
  return parseInt(text, 8);
}

/** The `size` record of pax data ("<len> <key>=<value>\n" records), if any. */
function paxSize(data: Buffer, what: string): number | undefined {
  let at = 0;
  let size: number | undefined;
  while (at < data.length && data[at] !== 0) {
    const space = data.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(data.subarray(at, space).toString("latin1"));
    if (!Number.isSafeInteger(len) || len <= 0 || at + len > data.length || data[at + len - 1] !== 0x0a)
      throw new Error(`${what} does not parse (a record at its byte ${at})`);
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    if (record.startsWith("size=")) {
      const v = record.slice(5);
      if (!/^\d{1,15}$/.test(v)) throw new Error(`${what} has a size record that is not a number ("${v}")`);
      size = Number(v);
    }
    at += len;
  }
  return size;
}
