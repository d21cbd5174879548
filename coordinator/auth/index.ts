/**
 * Authentication and authorisation of the coordinator's APIs: tokens with roles from the auth
 * file, the RPC→role table and its gRPC authorizer, the HTTP access rules, and the check that
 * refuses exposed listeners without TLS or tokens. Loads no grpc-js.
 */
export { ROLES, isRole, roleAllows, type Role } from "./roles.js";
export { RPC_ROLES, type StagefarmRpc } from "./rpc-roles.js";
export {
  TOKEN_PREFIX,
  generateToken,
  parseAuthorization,
  sha256Hex,
  tokenCredential,
  type Credential,
} from "./tokens.js";
export { loadAuthConfig, parseAuthConfig, type AuthConfig, type TokenEntry } from "./auth-config.js";
export { Authenticator } from "./authenticator.js";
export { authReloader, type AuthReloader } from "./auth-reload.js";
export { rpcAuthorizer } from "./grpc-authorizer.js";
export {
  HTTP_RULES,
  TOKEN_COOKIE,
  httpAuth,
  type HttpAccess,
  type HttpAuth,
  type HttpRefusal,
  type HttpRule,
} from "./http-auth.js";
export { checkExposure, isLoopbackHost, type Listener } from "./exposure.js";
