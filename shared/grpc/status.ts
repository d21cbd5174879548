/**
 * The one conversion between StagefarmError and gRPC status, both ways.
 *
 * | error code                               | gRPC status          | why                                               |
 * | ---------------------------------------- | -------------------- | ------------------------------------------------- |
 * | invalid_pipeline, invalid_argument       | INVALID_ARGUMENT     | the request is wrong whatever the server's state  |
 * | unsafe_archive                           | INVALID_ARGUMENT     | the archive is refused for what it is; no retry   |
 * | not_found                                | NOT_FOUND            |                                                   |
 * | corrupt_artifact, digest_mismatch        | DATA_LOSS            | bytes do not match their digest                   |
 * | stage_failed, missing_output             | FAILED_PRECONDITION  | deterministic: retrying unchanged fails again     |
 * | timeout                                  | DEADLINE_EXCEEDED    |                                                   |
 * | cancelled                                | CANCELLED            |                                                   |
 * | unavailable                              | UNAVAILABLE          | transient; the client may retry                   |
 * | conflict                                 | ABORTED              | a compare-and-set lost; re-read, then decide      |
 * | unauthenticated (an AuthError)           | UNAUTHENTICATED      | no, malformed, unknown or expired credentials     |
 * | permission_denied (an AuthError)         | PERMISSION_DENIED    | the caller's role does not allow the call         |
 * | internal, and anything not a StagefarmError | INTERNAL          | generic message; the error is logged with a reference |
 *
 * The exact code travels in the `stagefarm-error-code` trailer, so the client restores it. A status
 * without that trailer (from grpc-js itself: deadline, cancel, connection failure, unimplemented
 * method) maps back by {@link errorCodeForStatus}: the first row above for shared statuses;
 * UNKNOWN and UNIMPLEMENTED → internal; ALREADY_EXISTS and OUT_OF_RANGE → invalid_argument (bad
 * input from the caller's side, not retryable);
 * RESOURCE_EXHAUSTED → unavailable (retry later).
 */
import { randomBytes } from "node:crypto";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { isErrorCode, StagefarmError, type ErrorCode } from "../errors.js";
import { PipelineError } from "../pipeline/index.js";
import { AuthError } from "./auth.js";
import {
  readErrorCode,
  readErrorDetails,
  readPipelineIssues,
  truncateMessage,
  writeErrorCode,
  writeErrorDetails,
  writePipelineIssues,
} from "./trailers.js";

const statusOfCode: Readonly<Record<ErrorCode, Status>> = {
  invalid_pipeline: Status.INVALID_ARGUMENT,
  invalid_argument: Status.INVALID_ARGUMENT,
  unsafe_archive: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  corrupt_artifact: Status.DATA_LOSS,
  digest_mismatch: Status.DATA_LOSS,
  stage_failed: Status.FAILED_PRECONDITION,
  missing_output: Status.FAILED_PRECONDITION,
  timeout: Status.DEADLINE_EXCEEDED,
  cancelled: Status.CANCELLED,
  unavailable: Status.UNAVAILABLE,
  conflict: Status.ABORTED,
  unauthenticated: Status.UNAUTHENTICATED,
  permission_denied: Status.PERMISSION_DENIED,
  internal: Status.INTERNAL,
};

const codeOfStatus: Readonly<Record<Status, ErrorCode>> = {
  [Status.OK]: "internal", // an error with status OK is a bug somewhere
  [Status.CANCELLED]: "cancelled",
  [Status.UNKNOWN]: "internal",
  [Status.INVALID_ARGUMENT]: "invalid_argument",
  [Status.DEADLINE_EXCEEDED]: "timeout",
  [Status.NOT_FOUND]: "not_found",
  [Status.ALREADY_EXISTS]: "invalid_argument",
  [Status.PERMISSION_DENIED]: "permission_denied",
  [Status.RESOURCE_EXHAUSTED]: "unavailable",
  [Status.FAILED_PRECONDITION]: "stage_failed",
  [Status.ABORTED]: "conflict",
  [Status.OUT_OF_RANGE]: "invalid_argument",
  [Status.UNIMPLEMENTED]: "internal",
  [Status.INTERNAL]: "internal",
  [Status.UNAVAILABLE]: "unavailable",
  [Status.DATA_LOSS]: "corrupt_artifact",
  [Status.UNAUTHENTICATED]: "unauthenticated",
};

export function grpcStatusFor(code: ErrorCode): Status {
  return statusOfCode[code];
}

/** The error code for a status that came without the `stagefarm-error-code` trailer. */
export function errorCodeForStatus(status: Status): ErrorCode {
  return codeOfStatus[status] ?? "internal";
}

/**
 * An error status grpc-js made itself rather than a stagefarm handler (it came without the
 * `stagefarm-error-code` trailer): no connection, a deadline, a proxy's HTTP status, a size limit.
 * Callers tell "no server answered" from the server's own answer by this class, not by the text.
 */
export class TransportError extends StagefarmError {
  constructor(code: ErrorCode, message: string, opts: { details?: Record<string, unknown> } = {}) {
    super(code, message, opts);
    this.name = "TransportError";
  }
}

/** A status as grpc-js sends and reports it. */
export interface GrpcStatus {
  code: Status;
  details: string;
  metadata: Metadata;
}

export interface ToStatusOptions {
  /** Called for an error whose text must not reach the client; `ref` is in the generic message. */
  onInternal?: (ref: string, err: unknown) => void;
}

/**
 * Converts anything a handler threw into the status to send. StagefarmErrors keep their message
 * (cut to a size a status can carry) and details; an `internal` error or anything else becomes
 * INTERNAL with a generic message naming a reference, so no message or stack trace leaks.
 */
export function toGrpcStatus(err: unknown, opts: ToStatusOptions = {}): GrpcStatus {
  const metadata = new Metadata();
  if (!(err instanceof StagefarmError) || err.code === "internal") {
    const ref = randomBytes(4).toString("hex");
    opts.onInternal?.(ref, err);
    writeErrorCode(metadata, "internal");
    return {
      code: Status.INTERNAL,
      details: `internal server error (reference ${ref} in the server log)`,
      metadata,
    };
  }
  writeErrorCode(metadata, err.code);
  if (err instanceof PipelineError) writePipelineIssues(metadata, err);
  else writeErrorDetails(metadata, err.details);
  return { code: grpcStatusFor(err.code), details: truncateMessage(err.message), metadata };
}

/**
 * Converts a received error status back into a StagefarmError: the exact code, message and
 * details the server sent, or, for a status grpc-js made itself, the mapped code with `where`
 * (e.g. the method and address) added to the message. A pipeline's issues come back as a
 * PipelineError, UNAUTHENTICATED and PERMISSION_DENIED as an AuthError, any other status grpc-js
 * made itself as a {@link TransportError}. `details.grpcStatus` names the status (e.g.
 * "UNIMPLEMENTED").
 */
export function fromGrpcStatus(
  s: { code: number; details: string; metadata?: Metadata | undefined },
  where?: string,
): StagefarmError {
  const status: Status = s.code in codeOfStatus ? s.code : Status.UNKNOWN;
  const grpcStatus = Status[status];
  const trailer = readErrorCode(s.metadata);
  const sent = trailer !== undefined && isErrorCode(trailer) ? trailer : undefined;
  if (sent === "invalid_pipeline") {
    const issues = readPipelineIssues(s.metadata);
    if (issues !== undefined && issues.length > 0) return new PipelineError(issues);
  }
  const message = where === undefined || sent !== undefined ? s.details : `${s.details} (${where})`;
  const code = errorCodeForStatus(status);
  if (code === "unauthenticated" || code === "permission_denied")
    return new AuthError(code, message, { details: { ...readErrorDetails(s.metadata), grpcStatus } });
  if (sent !== undefined) {
    const details = { ...readErrorDetails(s.metadata), grpcStatus };
    return new StagefarmError(sent, s.details, { details });
  }
  return new TransportError(code, message, { details: { grpcStatus } });
}
