/** Errors of the binary package reader: every message names the package file. */
import { StagefarmError } from "../errors.js";

/** The package's bytes are damaged or not a binary package (`corrupt_artifact`). */
export function corrupt(file: string, what: string, cause?: unknown): StagefarmError {
  return new StagefarmError("corrupt_artifact", `binary package ${file}: ${what}`, {
    cause,
    details: { file },
  });
}

/** The package is well-formed but unusable as asked (`invalid_argument`). */
export function invalid(file: string, what: string, cause?: unknown): StagefarmError {
  return new StagefarmError("invalid_argument", `binary package ${file}: ${what}`, {
    cause,
    details: { file },
  });
}

/**
 * Normalises a failure of reading `file`: our own errors pass through, an abort becomes
 * `cancelled`, a missing file `not_found`; anything else is reported as damage.
 */
export function readFailure(file: string, err: unknown, signal: AbortSignal | undefined): StagefarmError {
  if (err instanceof StagefarmError) return err;
  if (signal?.aborted)
    return new StagefarmError("cancelled", `reading binary package ${file} was cancelled`, { cause: err });
  const e = StagefarmError.from(err);
  if (e.code === "not_found" || e.code === "cancelled")
    return StagefarmError.wrap(err, `binary package ${file}`);
  return corrupt(file, e.message, err);
}

/**
 * Normalises a failure of writing `out` as a rewrite of `file` (BUILD_ID rewrites): our own
 * errors pass through, an abort becomes `cancelled`, anything else keeps its code and names
 * both files.
 */
export function rewriteFailure(
  file: string,
  out: string,
  err: unknown,
  signal: AbortSignal | undefined,
): StagefarmError {
  if (err instanceof StagefarmError) return err;
  if (signal?.aborted)
    return new StagefarmError("cancelled", `rewriting ${file} was cancelled`, { cause: err });
  return StagefarmError.wrap(err, `cannot write ${out} from binary package ${file}`);
}
