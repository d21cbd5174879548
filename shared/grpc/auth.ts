/**
 * Who may call what: the contract between the adapter's one interceptor (auth-interceptor.ts),
 * which runs before every handler, and the authorizer that decides (the coordinator's token
 * table, coordinator/auth/). Loads no grpc-js at runtime, so HTTP servers share AuthError.
 *
 * Protocol: the client sends `authorization: Bearer <token>` as call metadata. The authorizer
 * returns the caller (a Principal) or throws an AuthError: `unauthenticated` (no, malformed,
 * unknown or expired credentials) becomes UNAUTHENTICATED / HTTP 401, `permission_denied` (a
 * known caller whose role is too weak, or an RPC without a rule) PERMISSION_DENIED / HTTP 403.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { StagefarmError } from "../errors.js";

export type AuthFailure = "unauthenticated" | "permission_denied";

/**
 * A refused call. Its code is the failure itself (`unauthenticated` or `permission_denied`): the
 * caller's side is wrong, so retrying unchanged fails again. The message never holds a secret.
 */
export class AuthError extends StagefarmError {
  declare readonly code: AuthFailure;

  constructor(
    failure: AuthFailure,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(failure, message, opts);
    this.name = "AuthError";
  }
}

/** The authenticated caller of a call: a token's name and role, or "anonymous". */
export interface Principal {
  readonly name: string;
  readonly role: string;
}

/** What the authorizer sees of a call. */
export interface CallIdentity {
  readonly method: DescMethod;
  /** The `authorization` metadata value as sent, if any. */
  readonly authorization: string | undefined;
  /** The client's address, e.g. `ipv4:10.0.0.5:53422`. */
  readonly peer: string;
}

export interface CallAuthorizer {
  /** The caller of `call`, or throws an AuthError. Runs before the request body is read. */
  authorize(call: CallIdentity): Principal;
  /**
   * Throws unless every RPC of `service` has a rule: the server calls it when a service is
   * added, so an RPC nobody thought about fails at start, not in production.
   */
  checkCovers(service: DescService): void;
}
