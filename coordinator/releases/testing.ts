/** Test-only surface of coordinator/releases/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { parseReleaseUrlPath } from "./http.js";
