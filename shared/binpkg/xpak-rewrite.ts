/**
 * `rewriteXpakBuildId`: a copy of a legacy xpak package with BUILD_ID set, as the binhost needs
 * when it allocates build ids. This is what portage's `tbz2.recompose_mem` does: the tarball
 * bytes are kept as they are and the XPAK segment after them is replaced by a new one
 * (`XPAKPACK` + index length + data length + index + data + `XPAKSTOP`), followed by its length
 * and `STOP`.
 *
 * Protocol
 * - The source is read first ({@link readBinpkgDetailed}; its XPAK segment parsed).
 * - The new segment has every entry of the old one, in the old order and byte for byte, except
 *   `BUILD_ID` = id (a trailing newline kept as it was; appended without one, as portage writes
 *   it, when absent).
 * - The tarball is streamed across (never held in memory), the result digested as it is
 *   written, synced, and renamed over `out` from a temporary file beside it, so `out` is never
 *   seen half-written (and `out` may be `file`).
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { invalid, rewriteFailure } from "./binpkg-error.js";
import { FileHasher } from "./digests.js";
import { metadataText } from "./metadata-tar.js";
import { describe, readRewriteSource } from "./read.js";
import type { BinpkgInfo } from "./types.js";
import { encodeXpakSegment, type XpakContents } from "./xpak.js";

export interface XpakRewriteOptions {
  signal?: AbortSignal;
}

export async function rewriteXpakBuildId(
  file: string,
  id: number,
  out: string,
  opts: XpakRewriteOptions = {},
): Promise<BinpkgInfo> {
  const source = await readRewriteSource(file, id, opts);
  const { xpak } = source;
  if (xpak === undefined)
    throw invalid(file, "is a gpkg; only an xpak package has an XPAK segment to rewrite");
  const entries = xpakWithBuildId(xpak.entries, id);
  const segment = encodeXpakSegment(entries);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32BE(segment.length, 0);
  trailer.write("STOP", 4, "latin1");

  const tmp = join(dirname(out), `.${basename(out)}.${randomUUID()}.tmp`);
  try {
    const hasher = new FileHasher();
    await pipeline(
      tarballThenSegment(file, xpak, Buffer.concat([segment, trailer]), opts.signal),
      hasher,
      createWriteStream(tmp, { flags: "wx", mode: 0o644 }),
      opts.signal === undefined ? {} : { signal: opts.signal },
    );
    const fh = await open(tmp, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, out);
    const metadata: Record<string, string> = {};
    for (const [key, value] of entries) {
      const text = metadataText(value);
      if (text !== undefined) metadata[key] = text;
    }
    return describe(out, metadata, hasher.digests(), {
      format: "xpak",
      compression: xpak.compression,
      metadataCompression: xpak.compression,
      signed: false,
      members: [],
    });
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw rewriteFailure(file, out, err, opts.signal);
  }
}

/** The tarball bytes of `file`, then `tail`. */
function tarballThenSegment(
  file: string,
  xpak: XpakContents,
  tail: Buffer,
  signal: AbortSignal | undefined,
): Readable {
  return Readable.from(
    (async function* () {
      const tarball = createReadStream(file, {
        start: 0,
        end: xpak.tarballBytes - 1,
        highWaterMark: 1 << 20,
        ...(signal === undefined ? {} : { signal }),
      });
      for await (const chunk of tarball as AsyncIterable<Buffer>) yield chunk;
      yield tail;
    })(),
  );
}

/** The XPAK entries with `BUILD_ID` set to `id`, order and every other entry kept. */
export function xpakWithBuildId(entries: ReadonlyMap<string, Buffer>, id: number): Map<string, Buffer> {
  const old = entries.get("BUILD_ID");
  const newline = old !== undefined && old.length > 0 && old[old.length - 1] === 0x0a ? "\n" : "";
  const out = new Map(entries);
  out.set("BUILD_ID", Buffer.from(`${id}${newline}`));
  return out;
}
