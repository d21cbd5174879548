/**
 * Test-only surface of shared/binhost/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { sortPackages } from "./packages-index.js";
export { type StanzaSource } from "./stanza.js";
export { evaluateDeps } from "./dep-reduce.js";
