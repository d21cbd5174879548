/** Test-only surface of shared/binhost/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { sortPackages } from "./packages-index.js";
export { type StanzaSource } from "./stanza.js";
export { evaluateDeps } from "./dep-reduce.js";
