/**
 * `stagefarm diff`: compares two trees (directories, tarballs, store artifacts, ISO images) and
 * explains every difference by the package that owns the path, with known noise named.
 */
export type {
  AttributeDiff,
  DiffReport,
  Entry,
  EntryType,
  PackageGroup,
  PathChange,
  VdbChange,
  VdbPackage,
} from "./types.js";
export { ATTRIBUTES } from "./types.js";
export { NOISE, NOISE_IDS, type NoiseId, type NoiseInfo } from "./noise.js";
export { compareTrees, type CompareOptions } from "./compare.js";
export { formatReport, summaryLine, type FormatStyle } from "./format.js";
export { indexSource, type TreeSource } from "./sources.js";
export { DEFAULT_MAX_ENTRIES, type IndexOptions, type TreeIndex } from "./tree-index.js";
export { contentsPaths, splitCpv } from "./vdb.js";
