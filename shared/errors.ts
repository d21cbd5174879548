/**
 * Errors carry a code and a cause. One class per failure kind; a `catch` normalises what it
 * caught once ({@link StagefarmError.from}, or {@link StagefarmError.wrap} to say what was being
 * done), and each boundary converts the code once through an exhaustive table: CLI exit status
 * and HTTP status here, gRPC status in shared/grpc/status.ts.
 */
export type ErrorCode =
  | "invalid_pipeline" // a pipeline file is malformed or inconsistent
  | "invalid_argument" // a flag, param or request is wrong
  | "not_found" // an artifact, manifest, run or stage does not exist
  | "corrupt_artifact" // bytes do not match their digest
  | "digest_mismatch" // a fetched source does not match its pinned sha256
  | "unsafe_archive" // an archive tries to escape its root or holds forbidden entries
  | "stage_failed" // a build script/tool exited non-zero (retried as far as the stage's retry_on allows)
  | "missing_output" // a stage did not write a declared output
  | "timeout" // a deadline passed
  | "cancelled" // an AbortSignal fired
  | "unavailable" // a transient I/O or network failure (retryable)
  | "conflict" // a compare-and-set lost: the record changed since it was read (re-read, then decide)
  | "unauthenticated" // no, malformed, unknown or expired credentials
  | "permission_denied" // a known caller whose role does not allow the call
  | "internal";

/** Exhaustive: a new error code does not compile until it has an exit status. */
const EXIT_CODE_OF: Readonly<Record<ErrorCode, number>> = {
  invalid_pipeline: 2, // bad input: the pipeline
  invalid_argument: 2, // bad input: flags, params, a request
  cancelled: 130, // as a shell reports SIGINT
  stage_failed: 1,
  missing_output: 1,
  timeout: 1,
  not_found: 1,
  unsafe_archive: 1, // refused data: from the store as often as from the user
  corrupt_artifact: 1,
  digest_mismatch: 1,
  unavailable: 1,
  conflict: 1,
  unauthenticated: 2, // bad input: the credentials
  permission_denied: 2,
  internal: 1,
};

/**
 * Exhaustive, like the gRPC table (shared/grpc/status.ts): a new error code does not compile
 * until it has a status. 500 is kept for what is the server's own fault.
 */
const HTTP_STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  invalid_argument: 400,
  invalid_pipeline: 400,
  unsafe_archive: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  stage_failed: 409, // the request's precondition (a stage state) does not hold
  missing_output: 409,
  corrupt_artifact: 502, // what the server read from the store is bad, not the request
  digest_mismatch: 502,
  unavailable: 503,
  timeout: 504,
  cancelled: 503, // the server is shutting down or the work was withdrawn (no standard 499)
  internal: 500,
};

/** Every error code, from the exhaustive exit-status table above. */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(EXIT_CODE_OF) as ErrorCode[];
const ALL_CODES: ReadonlySet<string> = new Set<string>(ERROR_CODES);

/** Whether a string received from elsewhere (an agent, a trailer) is one of our error codes. */
export function isErrorCode(s: string): s is ErrorCode {
  return ALL_CODES.has(s);
}

const retryable: ReadonlySet<ErrorCode> = new Set(["unavailable", "timeout"]);

export class StagefarmError extends Error {
  readonly code: ErrorCode;
  /** Extra structured facts for logs and JSON output (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "StagefarmError";
    this.code = code;
    this.details = opts.details ?? {};
  }

  /** Whether retrying the same operation may succeed. The error decides the retry. */
  get retryable(): boolean {
    return retryable.has(this.code);
  }

  /** Normalises anything thrown into a StagefarmError, keeping the original as cause. */
  static from(err: unknown, fallback: ErrorCode = "internal"): StagefarmError {
    if (err instanceof StagefarmError) return err;
    if (err instanceof Error) {
      if (err.name === "AbortError") return new StagefarmError("cancelled", err.message, { cause: err });
      const errno = (err as NodeJS.ErrnoException).code;
      if (errno === "ENOENT") return new StagefarmError("not_found", err.message, { cause: err });
      if (errno === "ECONNRESET" || errno === "ECONNREFUSED" || errno === "ETIMEDOUT" || errno === "EPIPE")
        return new StagefarmError("unavailable", err.message, { cause: err });
      return new StagefarmError(fallback, err.message, { cause: err });
    }
    return new StagefarmError(fallback, String(err));
  }

  /**
   * Says what was being done when `err` happened: the message becomes `context: <message>`,
   * the code is `err`'s (a StagefarmError's, or what {@link from} makes of anything else, with
   * `fallback` for what it cannot classify), its details are kept (plus `details`), and `err`
   * is the cause.
   */
  static wrap(
    err: unknown,
    context: string,
    opts: { fallback?: ErrorCode; details?: Record<string, unknown> } = {},
  ): StagefarmError {
    const e = StagefarmError.from(err, opts.fallback);
    return new StagefarmError(e.code, `${context}: ${e.message}`, {
      cause: err,
      details: { ...e.details, ...opts.details },
    });
  }
}

/** Throws a `cancelled` error if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StagefarmError("cancelled", "operation cancelled", { cause: signal.reason });
}

/** CLI exit status for an error code (stable for scripts; README "Exit status"). */
export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODE_OF[code];
}

/** The HTTP status of a request that failed with `code`. */
export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS_OF[code];
}
