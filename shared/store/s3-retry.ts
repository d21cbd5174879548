/**
 * Retries with exponential backoff for S3 requests. The error decides: only failures that
 * {@link isTransientS3Error} calls transient are retried (network errors, S3 5xx, SlowDown),
 * never a missing key, refused credentials or a digest mismatch. The wait between attempts is
 * abortable, and an aborted signal stops before the next attempt.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { isTransientS3Error } from "./s3-errors.js";

export interface RetryPolicy {
  /** Retries after the first attempt (0: try once). */
  retries: number;
  /** The first wait; each further wait doubles, up to `maxMs`. */
  baseMs: number;
  maxMs: number;
}

/** The wait before retry number `retry` (0-based): exponential, with jitter in [50 %, 100 %]. */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** retry);
  return Math.round(full / 2 + (full / 2) * random());
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait, with the error that caused it. */
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it succeeds, fails with a non-transient error, or `policy.retries` retries
 * are used up; rethrows the last error unchanged. `fn` receives the 1-based attempt number.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  for (let retry = 0; ; retry++) {
    throwIfAborted(hooks.signal);
    try {
      return await fn(retry + 1);
    } catch (err: unknown) {
      if (retry >= policy.retries || !isTransientS3Error(err)) throw err;
      const delayMs = backoffMs(retry, policy);
      hooks.onRetry?.(err, retry + 1, delayMs);
      try {
        await sleep(delayMs, undefined, { signal: hooks.signal });
      } catch (abort: unknown) {
        throw new StagefarmError("cancelled", "operation cancelled while waiting to retry", {
          cause: StagefarmError.from(abort),
        });
      }
    }
  }
}
