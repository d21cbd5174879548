/**
 * Deterministic packing of directory trees into tar|zstd artifacts and safe unpacking of
 * archives (zstd, xz, bzip2, gzip or plain tar) with GNU tar, validated entry by entry first.
 */
export type { PackOptions } from "./pack-args.js";
export { packTree, packTreeToFile } from "./pack-tree.js";
export type { ScanResult, UnpackOptions } from "./scan-archive.js";
export { scanArchive } from "./scan-archive.js";
export { unpackBlob, unpackFile } from "./unpack.js";
export type { Compression } from "./compression.js";
export { detectCompression } from "./compression.js";
