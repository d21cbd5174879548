/**
 * Test-only surface of coordinator/releases/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { parseReleaseUrlPath } from "./http.js";
