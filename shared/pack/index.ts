/**
 * Deterministic packing of directory trees into tar|zstd artifacts and safe unpacking of
 * archives (zstd, xz, bzip2, gzip or plain tar) with GNU tar, validated entry by entry first.
 */
export type { PackOptions } from "./pack-args.js";
export { packTree, packTreeToFile } from "./pack-tree.js";
export { unpackBlob, unpackFile } from "./unpack.js";
export { detectCompression, decompressCommand } from "./compression.js";
export { type UnpackLimits } from "./unpack-limits.js";
export { type EntryHeader, EntryValidator, shownName } from "./entry-validator.js";
export { compareListings, type ListedMember, startGnuListing } from "./gnu-listing.js";
export { HeaderWalker } from "./header-walker.js";
export { toListedMember } from "./member-listing.js";
export { normaliseMember } from "./member-path.js";
export { ByteCounter, globalPaxOf, toEntryHeader } from "./tar-stream-entry.js";
export { describeExit, startTool, succeeded, type ToolExit } from "./tool-process.js";
