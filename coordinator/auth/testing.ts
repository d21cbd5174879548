/**
 * Test-only surface of coordinator/auth/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { type Role } from "./roles.js";
export { RPC_ROLES } from "./rpc-roles.js";
export { tokenCredential, generateToken, sha256Hex } from "./tokens.js";
export { parseAuthConfig } from "./auth-config.js";
export { ROLES } from "./roles.js";
