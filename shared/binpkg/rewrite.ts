/**
 * `rewriteGpkgBuildId`: a copy of a verified, unsigned gpkg with BUILD_ID set, as the binhost
 * needs when it allocates build ids.
 *
 * Protocol
 * - The source is read and verified in full first ({@link readBinpkgDetailed}); a signed
 *   package is refused (`invalid_argument`): its signatures would no longer match and re-signing
 *   needs the key.
 * - The metadata archive is rebuilt with `metadata/BUILD_ID` = id (every other entry, header and
 *   byte kept) and recompressed with the same tool; the basename becomes `<PF>-<id>`.
 * - Every other member is streamed across unchanged ({@link writeContainerCopy}); the Manifest
 *   keeps the source's lines for them and gets a new line for the metadata archive.
 * - The result is written to a temporary file beside `out`, synced and renamed over `out`, so
 *   `out` is never seen half-written (and `out` may be `file`). The info of the new package is
 *   returned, digested as it was written.
 */
import { randomUUID } from "node:crypto";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { invalid, rewriteFailure } from "./binpkg-error.js";
import { compressBuffer } from "./compression.js";
import { writeContainerCopy, type CopyPlan, type EntryHeader } from "./container-copy.js";
import { memberDigestsOf } from "./digests.js";
import { buildMetadataTar, metadataKey, metadataRecord, type MetadataEntry } from "./metadata-tar.js";
import { describe, readRewriteSource } from "./read.js";
import type { BinpkgInfo } from "./types.js";

export interface RewriteOptions {
  signal?: AbortSignal;
}

export async function rewriteGpkgBuildId(
  file: string,
  id: number,
  out: string,
  opts: RewriteOptions = {},
): Promise<BinpkgInfo> {
  const source = await readRewriteSource(file, id, opts);
  const { info, gpkg } = source;
  if (gpkg === undefined)
    throw invalid(file, "is an xpak package; only a gpkg can have its BUILD_ID rewritten");
  if (gpkg.signed)
    throw invalid(
      file,
      "is signed: changing its BUILD_ID would void the signatures, and re-signing needs the key",
    );

  const entries = withBuildId(gpkg.metadataEntries, id);
  const metadataBytes = await compressBuffer(await buildMetadataTar(entries), gpkg.metadataCompression, {
    maxOutputBytes: 1 << 30,
    signal: opts.signal,
  });
  const plan: CopyPlan = {
    file,
    basename: `${info.pf}-${id}`,
    gpkg,
    metadataBytes,
    metadataDigests: memberDigestsOf(metadataBytes),
  };

  const tmp = join(dirname(out), `.${basename(out)}.${randomUUID()}.tmp`);
  try {
    const digests = await writeContainerCopy(plan, tmp, opts.signal);
    await rename(tmp, out);
    return describe(out, metadataRecord(entries), digests, {
      format: "gpkg",
      basename: plan.basename,
      compression: gpkg.imageCompression,
      metadataCompression: gpkg.metadataCompression,
      signed: false,
      members: gpkg.scan.members.map((m) => ({
        name: m.name,
        size: m.name === gpkg.metadataMember.name ? metadataBytes.length : m.digests.size,
      })),
    });
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw rewriteFailure(file, out, err, opts.signal);
  }
}

/** The metadata entries with `metadata/BUILD_ID` set to `id` (added when absent). */
export function withBuildId(entries: readonly MetadataEntry[], id: number): MetadataEntry[] {
  const at = entries.findIndex((e) => metadataKey(e.header) === "BUILD_ID");
  const old = entries[at];
  if (old !== undefined) {
    const newline = old.data.length > 0 && old.data[old.data.length - 1] === 0x0a ? "\n" : "";
    return entries.map((e, i) => (i === at ? { header: e.header, data: Buffer.from(`${id}${newline}`) } : e));
  }
  const like = entries.find((e) => metadataKey(e.header) !== undefined)?.header;
  const header: EntryHeader = {
    name: "metadata/BUILD_ID",
    type: "file",
    mode: 0o644,
    mtime: like?.mtime ?? new Date(),
    uid: like?.uid ?? 0,
    gid: like?.gid ?? 0,
    uname: like?.uname ?? "",
    gname: like?.gname ?? "",
  };
  return [...entries, { header, data: Buffer.from(`${id}\n`) }];
}
