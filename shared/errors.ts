/**
 * Errors carry a code and a cause. One class per failure kind; boundaries (CLI exit code,
 * HTTP status, later gRPC status) convert them once with {@link StagefarmError.from}.
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
  internal: 1,
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
}

/** Throws a `cancelled` error if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StagefarmError("cancelled", "operation cancelled", { cause: signal.reason });
}

/** CLI exit status for an error code (sysexits-like, stable for scripts). */
export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODE_OF[code];
}
