/** Test-only surface of shared/diff/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { compareEntries } from "./compare.js";
export { ContentHasher } from "./content-hasher.js";
export { contentsRecords } from "./vdb.js";
export type { Entry } from "./types.js";
export { contentsPaths, splitCpv } from "./vdb.js";
