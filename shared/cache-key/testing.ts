/** Test-only surface of shared/cache-key/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { normaliseScript } from "./normalise-script.js";
