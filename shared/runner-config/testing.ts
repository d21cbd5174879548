/** Test-only surface of shared/runner-config/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { argProblem } from "./emerge.js";
