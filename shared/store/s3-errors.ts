/**
 * What an S3 failure means for the S3 artifact store: whether retrying may help (network errors,
 * S3 5xx / SlowDown), whether the object is absent, whether the credentials are refused, and
 * the StagefarmError a caller gets. Messages are scrubbed of the secret key, whatever the server
 * or the network layer put in them.
 */
import { S3Error } from "minio";
import { StagefarmError, type ErrorCode } from "../errors.js";

export type S3FailureKind = "transient" | "not_found" | "denied" | "cancelled" | "other";

/** Socket-level error codes worth retrying: the server may be back a moment later. */
const TRANSIENT_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ECONNABORTED",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
]);
/** S3 error codes of server-side trouble (HTTP 5xx, throttling). */
const TRANSIENT_S3 = new Set([
  "InternalError",
  "SlowDown",
  "ServiceUnavailable",
  "RequestTimeout",
  "OperationAborted",
  "XMinioServerNotInitialized",
]);
const NOT_FOUND_S3 = new Set(["NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload"]);
const DENIED_S3 = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AllAccessDisabled",
  "InvalidToken",
  "ExpiredToken",
]);

/** With its own retries off, minio turns 408/429/5xx answers into a plain Error with this text
 *  (the S3 error code is lost; the transport drains the body). */
const MINIO_RETRYABLE_STATUS = /Retryable HTTP status: (\d{3})/;

function stringProp(err: unknown, name: string): string | undefined {
  if (typeof err !== "object" || err === null || !(name in err)) return undefined;
  const v: unknown = (err as Record<string, unknown>)[name];
  return typeof v === "string" ? v : undefined;
}

/** The S3 error code (`NoSuchKey`, `SlowDown`, …) or the socket errno (`ECONNREFUSED`), if any. */
export function s3ErrorCode(err: unknown): string | undefined {
  const code = stringProp(err, "code");
  if (code !== undefined && code !== "") return code;
  const status = err instanceof Error ? MINIO_RETRYABLE_STATUS.exec(err.message)?.[1] : undefined;
  if (status !== undefined) return `HTTP ${status}`;
  // Node reports a refused connection to a host with several addresses as an AggregateError.
  if (err instanceof AggregateError) return s3ErrorCode(err.errors[0]);
  return undefined;
}

export function classifyS3Error(err: unknown): S3FailureKind {
  if (err instanceof StagefarmError) {
    if (err.code === "cancelled") return "cancelled";
    if (err.code === "not_found") return "not_found";
    return err.retryable ? "transient" : "other";
  }
  if (err instanceof Error && err.name === "AbortError") return "cancelled";
  const code = s3ErrorCode(err);
  if (err instanceof S3Error) {
    if (code === undefined) return "transient"; // no error body: a 5xx from a proxy or load balancer
    if (TRANSIENT_S3.has(code)) return "transient";
    if (NOT_FOUND_S3.has(code)) return "not_found";
    if (DENIED_S3.has(code)) return "denied";
    return "other";
  }
  if (code !== undefined && (TRANSIENT_ERRNO.has(code) || code.startsWith("HTTP "))) return "transient";
  return "other";
}

export function isTransientS3Error(err: unknown): boolean {
  return classifyS3Error(err) === "transient";
}

/** Replaces every occurrence of the secrets (raw and percent-encoded) with `***`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue; // too short to mask without mangling the message
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join("***");
  }
  return out;
}

function summary(err: unknown): string {
  const code = s3ErrorCode(err);
  if (code?.startsWith("HTTP ")) return `${code} from the server`;
  let message = err instanceof Error ? err.message : String(err);
  if (message === "" && err instanceof AggregateError)
    message = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ");
  if (code === undefined) return message === "" ? "unknown error" : message;
  return message === "" || message.includes(code)
    ? `${code}${message === "" ? "" : `: ${message}`}`
    : `${code}: ${message}`;
}

export interface S3ErrorContext {
  /** What was being done, e.g. `storing a blob in s3://host:9000/bucket`. */
  what: string;
  /** The store's description (no credentials). */
  store: string;
  /** Strings that must never appear in a message (the secret key). */
  secrets: readonly string[];
  /** How many times the request was tried. */
  attempts?: number;
}

/** Turns any failure of an S3 request into a StagefarmError whose message names what failed. */
export function toS3StoreError(err: unknown, ctx: S3ErrorContext): StagefarmError {
  const kind = classifyS3Error(err);
  if (err instanceof StagefarmError && kind !== "transient") return err;
  const detail = scrubSecrets(summary(err), ctx.secrets);
  const tries = ctx.attempts !== undefined && ctx.attempts > 1 ? ` after ${ctx.attempts} attempts` : "";
  const server = ctx.what.includes(ctx.store) ? "the S3 server" : ctx.store;
  let code: ErrorCode;
  let message: string;
  switch (kind) {
    case "cancelled":
      code = "cancelled";
      message = `${ctx.what}: cancelled`;
      break;
    case "not_found":
      code = "not_found";
      message = `${ctx.what}: not found (${detail})`;
      break;
    case "denied":
      code = "invalid_argument";
      message = `${ctx.what}: ${server} refused the credentials (${detail}); check the access key, the secret and the bucket policy`;
      break;
    case "transient":
      code = "unavailable";
      message = `${ctx.what}: ${server} is unavailable${tries} (${detail})`;
      break;
    default:
      code = "internal";
      message = `${ctx.what}: ${detail}`;
  }
  return new StagefarmError(code, message, {
    cause: err,
    details: { store: ctx.store, s3Code: s3ErrorCode(err), attempts: ctx.attempts },
  });
}

/** A ranged GET whose start lies at or past the object's end (S3's 416 InvalidRange). */
export function isInvalidRange(err: unknown): boolean {
  const cause = err instanceof StagefarmError ? err.cause : err;
  const code = s3ErrorCode(cause);
  return code === "InvalidRange" || code === "HTTP 416";
}
