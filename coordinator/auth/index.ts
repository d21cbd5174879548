/**
 * Authentication and authorisation of the coordinator's APIs: tokens with roles from the auth
 * file, the RPC→role table and its gRPC authorizer, the HTTP access rules, and the check that
 * refuses exposed listeners without TLS or tokens. Loads no grpc-js.
 */

export { loadAuthConfig } from "./auth-config.js";
export { Authenticator } from "./authenticator.js";
export { authReloader } from "./auth-reload.js";
export { rpcAuthorizer } from "./grpc-authorizer.js";
export { TOKEN_COOKIE, httpAuth, type HttpAuth } from "./http-auth.js";
export { checkExposure, isLoopbackHost } from "./exposure.js";
export { type Role } from "./roles.js";
export { RPC_ROLES, type StagefarmRpc } from "./rpc-roles.js";
