/**
 * `readBinpkg`: tells a gpkg from an xpak package by its bytes (an XPAK trailer at the end, else
 * a tar header at the start), reads and verifies it, and returns its metadata with the
 * digests of the whole file. Memory stays small whatever the package size: the image is only
 * streamed through the hashes.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { corrupt, invalid, readFailure } from "./binpkg-error.js";
import { FileHasher, type FileDigests } from "./digests.js";
import { readGpkg, type GpkgContents } from "./gpkg-read.js";
import { metadataRecord, metadataText } from "./metadata-tar.js";
import type { BinpkgInfo } from "./types.js";
import { checkGpkgPayload, checkXpakPayload } from "./payload-check.js";
import { isXpakTrailer, readXpak, XPAK_TRAILER_BYTES, type XpakContents } from "./xpak.js";

export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * Also read the payload through (the gpkg's image archive, the xpak's tarball: decompressed
   * and walked as a tar to its end, ./payload-check.ts), refusing a package portage could not
   * extract. Costs a full decompression; the binhost asks for it before it admits a package.
   */
  payload?: boolean;
}

export async function readBinpkg(file: string, opts: ReadOptions = {}): Promise<BinpkgInfo> {
  try {
    return (await readBinpkgDetailed(file, opts)).info;
  } catch (err: unknown) {
    throw readFailure(file, err, opts.signal);
  }
}

/**
 * The source of a BUILD_ID rewrite (./rewrite.ts, ./xpak-rewrite.ts): `id` checked, then the
 * package read in detail, a failure named by file.
 */
export async function readRewriteSource(
  file: string,
  id: number,
  opts: ReadOptions = {},
): Promise<Awaited<ReturnType<typeof readBinpkgDetailed>>> {
  if (!Number.isSafeInteger(id) || id < 1)
    throw new StagefarmError("invalid_argument", `BUILD_ID must be a positive integer, got ${id}`);
  try {
    return await readBinpkgDetailed(file, opts);
  } catch (err: unknown) {
    throw readFailure(file, err, opts.signal);
  }
}

/** {@link readBinpkg} plus, for a gpkg, everything read from the container (for rewriting). */
export async function readBinpkgDetailed(
  file: string,
  opts: ReadOptions = {},
): Promise<{ info: BinpkgInfo; gpkg?: GpkgContents; xpak?: XpakContents }> {
  throwIfAborted(opts.signal);
  const kind = await sniff(file);
  if (kind.format === "xpak") {
    const xpak = await readXpak(file, kind.size);
    const metadata: Record<string, string> = {};
    for (const [key, value] of xpak.entries) {
      const text = metadataText(value);
      if (text !== undefined) metadata[key] = text;
    }
    const digests = await digestFile(file, opts.signal);
    const info = describe(file, metadata, digests, {
      format: "xpak",
      compression: xpak.compression,
      metadataCompression: xpak.compression,
      signed: false,
      members: [],
    });
    if (opts.payload === true) await checkXpakPayload(file, xpak, opts.signal);
    return { info, xpak };
  }
  const gpkg = await readGpkg(file, opts.signal);
  const info = describe(file, metadataRecord(gpkg.metadataEntries), gpkg.scan.file, {
    format: "gpkg",
    basename: gpkg.scan.basename,
    compression: gpkg.imageCompression,
    metadataCompression: gpkg.metadataCompression,
    signed: gpkg.signed,
    members: gpkg.scan.members.map((m) => ({ name: m.name, size: m.digests.size })),
  });
  if (opts.payload === true) await checkGpkgPayload(file, gpkg, opts.signal);
  return { info, gpkg };
}

async function sniff(file: string): Promise<{ format: "gpkg" | "xpak"; size: number }> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    if (size === 0) throw corrupt(file, "the file is empty");
    const tail = Buffer.alloc(XPAK_TRAILER_BYTES);
    if (size >= tail.length) {
      await fh.read(tail, 0, tail.length, size - tail.length);
      if (isXpakTrailer(tail)) return { format: "xpak", size };
    }
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < 512 || head.subarray(257, 262).toString("latin1") !== "ustar")
      throw corrupt(
        file,
        "neither a gpkg (no tar header at the start) nor an xpak package (no XPAK trailer)",
      );
    return { format: "gpkg", size };
  } finally {
    await fh.close();
  }
}

async function digestFile(file: string, signal: AbortSignal | undefined): Promise<FileDigests> {
  const hasher = new FileHasher();
  const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20, signal }), hasher, sink);
  return hasher.digests();
}

type FormatFields = Pick<
  BinpkgInfo,
  "format" | "compression" | "metadataCompression" | "signed" | "members"
> & {
  basename?: string;
};

/** Builds the info from the metadata: CATEGORY and PF must be there, numbers must be numbers. */
export function describe(
  file: string,
  metadata: Record<string, string>,
  digests: FileDigests,
  fields: FormatFields,
): BinpkgInfo {
  const category = metadata.CATEGORY?.trim() ?? "";
  const pf = metadata.PF?.trim() ?? "";
  const missing = [category === "" ? "CATEGORY" : "", pf === "" ? "PF" : ""].filter((k) => k !== "");
  if (missing.length > 0) throw invalid(file, `the metadata has no ${missing.join(" and ")}`);
  const buildId = optionalInt(file, metadata, "BUILD_ID");
  const buildTime = optionalInt(file, metadata, "BUILD_TIME");
  return {
    ...fields,
    metadata,
    category,
    pf,
    cpv: `${category}/${pf}`,
    ...(buildId !== undefined ? { buildId } : {}),
    ...(buildTime !== undefined ? { buildTime } : {}),
    size: digests.size,
    md5: digests.md5,
    sha1: digests.sha1,
    sha256: digests.sha256,
  };
}

function optionalInt(file: string, metadata: Record<string, string>, key: string): number | undefined {
  const v = metadata[key]?.trim();
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw invalid(file, `${key} is "${v}", not a non-negative integer`);
  return Number(v);
}
