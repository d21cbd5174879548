/**
 * What the engine does with a failed stage: which errors its `retries` may retry, how long it
 * waits before the next attempt, and, for a corrupt input, dropping the blob and the cache
 * entries that named it so they are rebuilt instead of failing every later run the same way.
 * The engine rebuilds a dropped cached producer in the same run and runs the consumer again,
 * once per stage and run (a store that corrupts every blob still ends in a failure).
 */
import type { ErrorCode, StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { DEFAULT_RETRY_ON, type RetryCondition } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { outputsOf, type StageStatus } from "./stage-state.js";

/**
 * The class of `retry_on` (shared/pipeline/retry-on.ts) each error code falls in; undefined: never
 * retried (deterministic or user-caused: a bad input, a digest mismatch, a missing output).
 * Exhaustive: a new error code does not compile until it is placed here.
 */
const RETRY_CLASS_OF: Readonly<Record<ErrorCode, RetryCondition["t"] | undefined>> = {
  unavailable: "infra", // the store, NATS or an agent's connection away
  internal: "infra", // the runner could not start (e.g. its cgroup), a bug of the farm
  timeout: "timeout",
  stage_failed: "exit",
  invalid_pipeline: undefined,
  invalid_argument: undefined,
  not_found: undefined,
  corrupt_artifact: undefined, // handled by dropCorruptInput instead
  digest_mismatch: undefined,
  unsafe_archive: undefined,
  missing_output: undefined,
  cancelled: undefined,
  conflict: undefined,
  unauthenticated: undefined,
  permission_denied: undefined,
};

/**
 * Whether a stage's `retries` may retry this failure, by its code (and, for a script's exit, the
 * `exitCode` detail the runner reported), never by its message.
 */
export function mayRetry(
  error: StagefarmError,
  retryOn: readonly RetryCondition[] = DEFAULT_RETRY_ON,
): boolean {
  const cls = RETRY_CLASS_OF[error.code];
  if (cls === undefined) return false;
  const exitCode = error.details["exitCode"];
  return retryOn.some((c) => c.t === cls && (c.t !== "exit" || c.code === undefined || c.code === exitCode));
}

export function defaultRetryBackoffMs(failedAttempt: number): number {
  return Math.min(10_000 * 2 ** (failedAttempt - 1), 600_000);
}

/**
 * A corrupt input blob is never used again: remove it and the manifests of the upstream stages
 * (`upstream`, with their states) that named it. Returns the upstream stages whose cache entry
 * (state `cached`) was dropped: those the engine may rebuild in this run.
 */
export async function dropCorruptInput(
  store: ArtifactStore,
  upstream: ReadonlyArray<readonly [string, StageStatus]>,
  error: StagefarmError,
  log: Logger,
): Promise<string[]> {
  const digest = error.details["digest"];
  if (typeof digest !== "string") return [];
  const dropped: string[] = [];
  for (const [up, s] of upstream) {
    const outs = outputsOf(s);
    if (
      (s.t === "cached" || s.t === "done") &&
      outs !== undefined &&
      Object.values(outs).some((o) => o.digest === digest)
    ) {
      await store.deleteManifest(s.key);
      log.warn({ stage: up, key: s.key, digest }, "removed the cache entry holding a corrupt artifact");
      if (s.t === "cached") dropped.push(up);
    }
  }
  await store.deleteBlob(digest);
  return dropped;
}
