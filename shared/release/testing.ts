/** Test-only surface of shared/release/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { digestSections } from "./digests-file.js";
export { latestFileText } from "./latest-file.js";
export { stampOf } from "./layout.js";
