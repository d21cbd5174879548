/**
 * Whether portage can extract a package's payload: the part it unpacks into the image
 * directory when it installs the package. For a gpkg that is the image archive (a member of the
 * container, read only after the Manifest check has passed, as portage's `gpkg.decompress` does
 * after `_verify_binpkg`); for an xpak the tarball before the XPAK segment (portage's
 * BinpkgExtractorAsync: `head -c <size - segment> | <decompressor> | tar -x`, so the segment
 * and trailer after the tarball are never decompressed). Either is read through with
 * {@link readThrough}; a failure is `corrupt_artifact` naming the file and the payload.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { StagefarmError } from "../errors.js";
import { corrupt } from "./binpkg-error.js";
import type { GpkgContents } from "./gpkg-read.js";
import { readThrough } from "./read-through.js";
import type { BinpkgCompression } from "./types.js";
import type { XpakContents } from "./xpak.js";
import { skipEntry } from "../util/skip-entry.js";

export async function checkGpkgPayload(
  file: string,
  gpkg: GpkgContents,
  signal: AbortSignal | undefined,
): Promise<void> {
  const wanted = `${gpkg.scan.basename}/${gpkg.imageMember.name}`;
  const what = `the image archive ${gpkg.imageMember.name}`;
  const extract = tarExtract();
  // The signal goes to the pipeline: see container-copy.ts.
  const feeding = pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), extract, { signal });
  let found = false;
  const reading = (async () => {
    for await (const entry of extract) {
      if (entry.header.name !== wanted || found) {
        skipEntry(entry);
        continue;
      }
      found = true;
      await through(file, what, Readable.from(entry as AsyncIterable<Buffer>), gpkg.imageCompression, signal);
    }
  })();
  const [fed, read] = await Promise.allSettled([feeding, reading]);
  if (read.status === "rejected") throw read.reason;
  if (fed.status === "rejected") throw StagefarmError.from(fed.reason);
  if (!found) throw corrupt(file, `${what} is no longer in the container`);
}

export async function checkXpakPayload(
  file: string,
  xpak: XpakContents,
  signal: AbortSignal | undefined,
): Promise<void> {
  const tarball = createReadStream(file, {
    start: 0,
    end: xpak.tarballBytes - 1,
    highWaterMark: 1 << 20,
  });
  await through(
    file,
    `the tarball (the first ${xpak.tarballBytes} bytes)`,
    tarball,
    xpak.compression,
    signal,
  );
}

async function through(
  file: string,
  what: string,
  source: Readable,
  compression: BinpkgCompression,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await readThrough(source, compression, signal);
  } catch (err: unknown) {
    if (err instanceof StagefarmError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw corrupt(file, `${what} cannot be extracted, as portage would fail to install it: ${why}`, err);
  }
}
