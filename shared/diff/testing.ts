/**
 * Test-only surface of shared/diff/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { compareEntries } from "./compare.js";
export { ContentHasher } from "./content-hasher.js";
export { contentsRecords, contentsPaths, splitCpv } from "./vdb.js";
export type { Entry } from "./types.js";
