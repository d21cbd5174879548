/**
 * Test-only surface of shared/runner-config/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { argProblem } from "./emerge.js";
export { type CatalystWith, datestampOf, parseCatalystWith } from "./catalyst.js";
export { type ChrootWith, parseChrootWith } from "./chroot.js";
export { type EmergeWith, parseEmergeWith, PATH_ENV, portageConfigEntries } from "./emerge.js";
