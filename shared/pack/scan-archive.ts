/**
 * The validation pass of safe unpacking: decompresses the archive with the external tool its
 * magic bytes call for, parses the tar stream with tar-stream (pax and GNU long-name headers
 * included) and runs every header through the {@link EntryValidator}, extracting nothing.
 * Damaged input (a truncated or corrupt compressed stream, bytes that are not tar) is refused
 * with `unsafe_archive` and a message saying which. Meanwhile GNU tar lists the same file
 * (./gnu-listing.ts): an archive GNU tar would read as other members than the check saw is
 * refused too, so what was checked is what extraction writes.
 */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { decompressCommand, detectCompression, type Compression } from "./compression.js";
import { EntryValidator, shownName } from "./entry-validator.js";
import { compareListings, startGnuListing, type ListedMember } from "./gnu-listing.js";
import { HeaderWalker } from "./header-walker.js";
import { ByteCounter, globalPaxOf, toEntryHeader } from "./tar-stream-entry.js";
import { toListedMember } from "./member-listing.js";
import type { UnpackLimits } from "./unpack-limits.js";
import { describeExit, startTool, succeeded } from "./tool-process.js";
import { skipEntry } from "../util/skip-entry.js";

export interface UnpackOptions {
  /** Accept character and block device nodes (chroot runners need /dev in a rootfs). */
  allowDevices?: boolean;
  /** Bounds on the unpacked tree (./unpack-limits.ts); unpackFile/unpackBlob add the path budget. */
  limits?: UnpackLimits;
  signal?: AbortSignal;
}

export interface ScanResult {
  entries: number;
  /** Bytes of regular-file content. */
  bytes: number;
}

/** Validates `archive` without extracting it; throws `unsafe_archive` when it must not be unpacked. */
export async function scanArchive(archive: string, opts: UnpackOptions = {}): Promise<ScanResult> {
  return (await scanWithCompression(archive, opts, `archive ${archive}`)).result;
}

/**
 * {@link scanArchive}, also telling which compression was found (extraction needs it).
 * `label` names the archive in messages ("archive /path/x.tar", "artifact <digest>").
 */
export async function scanWithCompression(
  file: string,
  opts: UnpackOptions,
  label: string,
): Promise<{ result: ScanResult; compression: Compression }> {
  throwIfAborted(opts.signal);
  const compression = await detectCompression(file, label);
  const listing = await startGnuListing(file, compression, opts.signal);
  try {
    const result = await checkEntries(file, compression, label, opts);
    const gnu = await listing.result;
    if (opts.signal?.aborted)
      throw new StagefarmError("cancelled", `checking ${label} was cancelled`, { cause: opts.signal.reason });
    compareListings(label, result.what, result.members, gnu);
    return { result: { entries: result.entries, bytes: result.bytes }, compression };
  } finally {
    await listing.stop();
  }
}

/** The tar-stream pass: every entry through the validator; the members it saw, in order. */
async function checkEntries(
  file: string,
  compression: Compression,
  label: string,
  opts: UnpackOptions,
): Promise<{ entries: number; bytes: number; members: ListedMember[]; what: string }> {
  const command = decompressCommand(compression, file);
  const tool = command ? await startTool(command.file, command.args, { signal: opts.signal }) : undefined;
  const source: Readable = tool ? tool.stdout : createReadStream(file, { highWaterMark: 1 << 20 });
  const what = compression === "none" ? label : `${label} (${compression})`;
  const counter = new ByteCounter();
  const walker = new HeaderWalker(what, label);
  const extract = tarExtract();
  const validator = new EntryValidator(label, opts);
  const members: ListedMember[] = [];
  let walkerError: StagefarmError | undefined;
  walker.once("error", (err: unknown) => {
    walkerError = StagefarmError.from(err);
  });

  const feeding = pipeline(source, counter, walker, extract);
  const parsing = (async () => {
    for await (const entry of extract) {
      const header = toEntryHeader(entry.header);
      validator.check(header, globalPaxOf(extract));
      members.push(toListedMember(entry.header, shownName(header), header.pax));
      skipEntry(entry);
    }
  })();
  // On a refusal or a parse error the pipeline closes the decompressor's stdout, and it stops
  // at its next write (SIGPIPE); only the caller's signal kills it outright.
  const [fed, parsed] = await Promise.allSettled([feeding, parsing]);
  const exit = tool ? await tool.exited : undefined;

  if (opts.signal?.aborted)
    throw new StagefarmError("cancelled", `checking ${label} was cancelled`, { cause: opts.signal.reason });
  if (parsed.status === "rejected" && parsed.reason instanceof StagefarmError) throw parsed.reason;
  if (exit !== undefined && !exit.killed && exit.signal !== "SIGPIPE" && !succeeded(exit))
    throw unsafe(label, `${what} is truncated or corrupt: ${describeExit(compression, exit)}`);
  if (counter.bytes === 0) throw unsafe(label, `${what} is empty: not a tar archive`);
  if (walkerError !== undefined) throw walkerError;
  const failure: unknown =
    parsed.status === "rejected" ? parsed.reason : fed.status === "rejected" ? fed.reason : undefined;
  if (failure !== undefined) throw unsafe(label, `${what} ${describeTarFailure(failure)}`, failure);
  validator.finish();
  return { entries: validator.entries, bytes: validator.bytes, members, what };
}

function unsafe(label: string, message: string, cause?: unknown): StagefarmError {
  return new StagefarmError("unsafe_archive", message, { cause, details: { archive: label } });
}

function describeTarFailure(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected end of data/i.test(msg)) return "is truncated: it ends in the middle of an entry";
  if (/invalid tar header|unknown format/i.test(msg)) return `is not a tar archive (${msg})`;
  return `cannot be read as a tar archive: ${msg}`;
}
