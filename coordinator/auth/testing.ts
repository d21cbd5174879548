/** Test-only surface of coordinator/auth/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { type Role } from "./roles.js";
export { RPC_ROLES } from "./rpc-roles.js";
export { tokenCredential } from "./tokens.js";
export { parseAuthConfig } from "./auth-config.js";
export { ROLES } from "./roles.js";
export { generateToken, sha256Hex } from "./tokens.js";
