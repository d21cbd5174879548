/**
 * Converts errors of the `nats` client into {@link StagefarmError}s once, at the edge of the
 * NATS implementations, and recognises the few JetStream API errors the code acts on.
 */
import { NatsError } from "nats";
import { StagefarmError } from "../errors.js";

/** JetStream API error codes (`err_code`) the implementations act on. */
export const JsErr = {
  streamNotFound: 10059,
  consumerNotFound: 10014,
  wrongLastSequence: 10071,
} as const;

const UNAVAILABLE = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DRAINING",
  "CONNECTION_REFUSED",
  "CONNECTION_TIMEOUT",
  "DISCONNECT",
  "TIMEOUT",
  "503",
]);

/**
 * JetStream API errors of a cluster between leaders (a stream's or the meta group's election,
 * a node restarting): `JSClusterNotActiveErr`, `JSClusterNotAvailErr`, `JSClusterNotLeaderErr`,
 * `JSStreamOfflineErr` (nats-server server/errors.json, checked at commit 1787eee035cf). They pass like a 503.
 */
const UNAVAILABLE_JS = new Set([10006, 10008, 10009, 10118]);

const REFUSED = new Set([
  "AUTHORIZATION_VIOLATION",
  "AUTHENTICATION_EXPIRED",
  "AUTHENTICATION_TIMEOUT",
  "BAD_AUTHENTICATION",
  "PERMISSIONS_VIOLATION",
]);

/** The JetStream API error code carried by `err`, if any. */
export function jsErrCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.api_error?.err_code : undefined;
}

/**
 * Whether `err` says that a stream or consumer does not exist. By the JetStream API code: the
 * client attaches it to every API error (nats.js `parseJsResponse`), also to those it rethrows
 * from a consumer's pull.
 */
export function isNotFound(err: unknown): boolean {
  const code = jsErrCode(err);
  return code === JsErr.streamNotFound || code === JsErr.consumerNotFound;
}

/** Whether `err` is a lost compare-and-set (`wrong last sequence`), by its JetStream API code. */
export function isWrongLastSequence(err: unknown): boolean {
  return jsErrCode(err) === JsErr.wrongLastSequence;
}

/** Normalises an error from a NATS call; `what` names the operation for the user ("publishing a job to pool x"). */
export function fromNats(err: unknown, what: string): StagefarmError {
  if (err instanceof StagefarmError) return err;
  if (err instanceof NatsError) {
    if (UNAVAILABLE.has(err.code) || UNAVAILABLE_JS.has(err.api_error?.err_code ?? 0))
      return new StagefarmError("unavailable", `${what}: NATS is unavailable (${err.message})`, {
        cause: err,
        details: { natsCode: err.code },
      });
    if (REFUSED.has(err.code))
      return new StagefarmError("invalid_argument", `${what}: NATS refused it (${err.message})`, {
        cause: err,
        details: { natsCode: err.code },
      });
    return new StagefarmError("internal", `${what}: ${err.message}`, {
      cause: err,
      details: { natsCode: err.code, jsErrCode: err.api_error?.err_code },
    });
  }
  return StagefarmError.wrap(err, what);
}
