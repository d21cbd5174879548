/**
 * Test-only surface of shared/runner-config/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { argProblem } from "./emerge.js";
