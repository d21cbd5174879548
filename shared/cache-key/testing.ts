/**
 * Test-only surface of shared/cache-key/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { normaliseScript } from "./normalise-script.js";
