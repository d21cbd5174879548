/**
 * Test-only surface of shared/grpc/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { MAX_MESSAGE_CHARS } from "./trailers.js";
export type { CallOptions } from "./types.js";
export { type GrpcListener } from "./listen.js";
export { errorCodeForStatus, fromGrpcStatus, grpcStatusFor, toGrpcStatus } from "./status.js";
export { ERROR_CODE_TRAILER } from "./trailers.js";
export { type ClientTls, type ServerTls } from "./tls.js";
