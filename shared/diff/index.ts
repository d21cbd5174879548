/**
 * `stagefarm diff`: compares two trees (directories, tarballs, store artifacts, ISO images) and
 * explains every difference by the package that owns the path, with known noise named.
 */
export type { DiffReport, PackageGroup, PathChange } from "./types.js";
export { compareTrees } from "./compare.js";
export { formatReport, summaryLine } from "./format.js";
export { indexSource, type TreeSource } from "./sources.js";
export { type TreeIndex } from "./tree-index.js";
