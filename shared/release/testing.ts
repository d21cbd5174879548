/**
 * Test-only surface of shared/release/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { digestSections } from "./digests-file.js";
export { latestFileText } from "./latest-file.js";
export { stampOf } from "./layout.js";
