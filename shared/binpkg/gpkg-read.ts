/**
 * Reading a gpkg (GLEP 78). One streaming pass ({@link scanContainer}) digests every member;
 * then, before anything is decompressed, the Manifest must account for every member but itself
 * (size and every known hash equal) and list nothing absent. Only then is the metadata archive
 * decompressed and parsed. Members may come in any order; the basename need not match the file
 * name. Signatures (`.sig` members, a clear-signed Manifest) are noticed, not verified.
 */
import { corrupt } from "./binpkg-error.js";
import { decompressBuffer, splitArchiveName } from "./compression.js";
import { scanContainer, type ContainerScan, type ScannedMember } from "./container-scan.js";
import { manifestMismatch, parseManifest, type ParsedManifest } from "./manifest.js";
import { parseMetadataTar, type MetadataEntry } from "./metadata-tar.js";
import type { BinpkgCompression } from "./types.js";
import { StagefarmError } from "../errors.js";

export const GPKG_VERSION_MEMBER = "gpkg-1";
export const MANIFEST_MEMBER = "Manifest";
/** The metadata archive is a few hundred kilobytes; portage refuses more than 10 MB remotely. */
const MAX_METADATA_MEMBER_BYTES = 32 << 20;
const MAX_METADATA_TAR_BYTES = 128 << 20;
const MAX_MANIFEST_BYTES = 1 << 20;

export interface GpkgContents {
  scan: ContainerScan;
  manifest: ParsedManifest;
  metadataMember: ScannedMember;
  metadataCompression: BinpkgCompression;
  imageMember: ScannedMember;
  imageCompression: BinpkgCompression;
  metadataEntries: MetadataEntry[];
  signed: boolean;
}

function isMetadataArchive(name: string): boolean {
  return splitArchiveName(name)?.stem === "metadata";
}

export async function readGpkg(file: string, signal?: AbortSignal): Promise<GpkgContents> {
  const scan = await scanContainer(file, {
    signal,
    capture: (name) =>
      name === MANIFEST_MEMBER
        ? MAX_MANIFEST_BYTES
        : isMetadataArchive(name)
          ? MAX_METADATA_MEMBER_BYTES
          : undefined,
  });
  const names = scan.members.map((m) => m.name);
  if (!names.includes(GPKG_VERSION_MEMBER))
    throw corrupt(file, `not a gpkg: no ${GPKG_VERSION_MEMBER} member (members: ${names.join(", ")})`);
  const manifest = verifyManifest(file, scan);
  const metadataMember = onlyArchive(file, scan, "metadata");
  const imageMember = onlyArchive(file, scan, "image");
  const metadataCompression = splitArchiveName(metadataMember.name)?.compression ?? "none";
  const imageCompression = splitArchiveName(imageMember.name)?.compression ?? "none";

  let metadataEntries: MetadataEntry[];
  try {
    const tar = await decompressBuffer(metadataMember.data ?? Buffer.alloc(0), metadataCompression, {
      maxOutputBytes: MAX_METADATA_TAR_BYTES,
      signal,
    });
    metadataEntries = await parseMetadataTar(tar);
  } catch (err: unknown) {
    if (err instanceof StagefarmError && err.code === "cancelled") throw err;
    if (err instanceof StagefarmError && err.code !== "corrupt_artifact")
      throw StagefarmError.wrap(err, `binary package ${file}`);
    const why = err instanceof Error ? err.message : String(err);
    throw corrupt(file, `member ${metadataMember.name} cannot be read: ${why}`, err);
  }
  const signed = manifest.clearSigned || names.some((n) => n.endsWith(".sig"));
  return {
    scan,
    manifest,
    metadataMember,
    metadataCompression,
    imageMember,
    imageCompression,
    metadataEntries,
    signed,
  };
}

function verifyManifest(file: string, scan: ContainerScan): ParsedManifest {
  const member = scan.members.find((m) => m.name === MANIFEST_MEMBER);
  if (member === undefined)
    throw corrupt(file, `no ${MANIFEST_MEMBER} member: the package cannot be verified`);
  let manifest: ParsedManifest;
  try {
    manifest = parseManifest((member.data ?? Buffer.alloc(0)).toString("utf8"));
  } catch (err: unknown) {
    throw corrupt(file, `invalid Manifest: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  for (const m of scan.members) {
    if (m.name === MANIFEST_MEMBER) continue;
    const entry = manifest.entries.get(m.name);
    if (entry === undefined) throw corrupt(file, `member ${m.name} is not listed in the Manifest`);
    const why = manifestMismatch(entry, m.digests);
    if (why !== undefined) throw corrupt(file, `member ${m.name}: ${why}`);
  }
  for (const name of manifest.entries.keys()) {
    if (!scan.members.some((m) => m.name === name))
      throw corrupt(file, `the Manifest lists ${name}, which the package does not contain`);
  }
  return manifest;
}

function onlyArchive(file: string, scan: ContainerScan, stem: "metadata" | "image"): ScannedMember {
  const found = scan.members.filter((m) => splitArchiveName(m.name)?.stem === stem);
  const [first, second] = found;
  if (first === undefined)
    throw corrupt(file, `no ${stem}.tar member (members: ${scan.members.map((m) => m.name).join(", ")})`);
  if (second !== undefined) throw corrupt(file, `two ${stem} archives: ${first.name} and ${second.name}`);
  return first;
}
