/** Test-only surface of shared/grpc/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { MAX_MESSAGE_CHARS } from "./trailers.js";
