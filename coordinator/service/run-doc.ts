/**
 * The durable record of a run in KV (`runs.<id>`): what was submitted (the pipeline text, so a
 * restarted coordinator can resume it) and the last known state of every stage. The
 * coordinator is its only writer.
 */
import { z } from "zod";
import { outputSchema } from "../../shared/protocol/messages.js";
import { releaseSeedSchema } from "../../shared/release/index.js";
import type { StagefarmError } from "../../shared/errors.js";
import type { StageStatus } from "../engine/stage-state.js";
import { runReproSchema } from "../repro/verdict.js";

/** A finished attempt of a stage: where it ran, when, and how it ended. */
export const attemptDocSchema = z.object({
  n: z.number().int(),
  outcome: z.enum(["succeeded", "failed", "timed_out", "cancelled"]),
  agent: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  error: z.string().optional(),
});
export type AttemptDoc = z.infer<typeof attemptDocSchema>;

export const stageDocSchema = z.object({
  state: z.enum(["waiting", "ready", "running", "cached", "done", "failed", "skipped", "cancelled"]),
  key: z.string().optional(),
  reason: z.string().optional(),
  attempt: z.number().int().optional(),
  startedAt: z.number().optional(),
  durationMs: z.number().optional(),
  outputs: z.record(z.string(), outputSchema).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  logPath: z.string().optional(),
  /** The stage's finished attempts in this run, oldest first (kept across retries and restarts). */
  attempts: z.array(attemptDocSchema).optional(),
});
export type StageDoc = z.infer<typeof stageDocSchema>;

export const runDocSchema = z.object({
  v: z.literal(1),
  id: z.string(),
  pipeline: z.string(),
  path: z.string(),
  yaml: z.string(),
  params: z.record(z.string(), z.string()),
  /** The `release:` inputs, resolved at submit to the digests their pointers named (shared/release). */
  releaseInputs: z.array(releaseSeedSchema).optional(),
  status: z.enum(["running", "succeeded", "failed", "cancelled"]),
  createdAt: z.number(),
  finishedAt: z.number().optional(),
  stages: z.record(z.string(), stageDocSchema),
  /** `--repro`: the stages built twice, and each one's verdict (../repro/verdict.ts). */
  repro: runReproSchema.optional(),
});
export type RunDoc = z.infer<typeof runDocSchema>;

export function runKey(id: string): string {
  return `runs.${id}`;
}

export function stageDocOf(s: StageStatus): StageDoc {
  switch (s.t) {
    case "waiting":
    case "skipped":
    case "cancelled":
      return { state: s.t, reason: s.reason };
    case "ready":
      return {
        state: s.t,
        key: s.key,
        attempt: s.attempt,
        ...(s.retryAt === undefined
          ? {}
          : { reason: `retry backoff until ${new Date(s.retryAt).toISOString()}` }),
      };
    case "running":
      return { state: s.t, key: s.key, attempt: s.attempt, startedAt: s.startedAt };
    case "cached":
      return { state: s.t, key: s.key, outputs: s.outputs, durationMs: s.durationMs };
    case "done":
      return {
        state: s.t,
        key: s.key,
        outputs: s.outputs,
        attempt: s.attempt,
        durationMs: s.durationMs,
        logPath: s.logPath,
      };
    case "failed": {
      const logPath = s.error.details["logPath"];
      return {
        state: s.t,
        ...(s.key === undefined ? {} : { key: s.key }),
        attempt: s.attempt,
        durationMs: s.durationMs,
        error: { code: s.error.code, message: s.error.message },
        ...(typeof logPath === "string" ? { logPath } : {}),
      };
    }
  }
}

/** The attempt `status` ends, if it ends one (`before` is the stage's document until now). */
function endedAttempt(before: StageDoc | undefined, s: StageStatus, now: number): AttemptDoc | undefined {
  const startedAt = before?.state === "running" ? before.startedAt : undefined;
  const from = startedAt === undefined ? {} : { startedAt };
  const failed = (n: number, error: StagefarmError): AttemptDoc => {
    const agent = error.details["agent"];
    return {
      n,
      outcome: error.code === "timeout" ? "timed_out" : "failed",
      ...(typeof agent === "string" ? { agent } : {}),
      ...from,
      finishedAt: now,
      error: error.message,
    };
  };
  switch (s.t) {
    case "done":
      return {
        n: s.attempt,
        outcome: "succeeded",
        ...(s.agent === undefined ? {} : { agent: s.agent }),
        startedAt: now - s.durationMs,
        finishedAt: now,
      };
    case "failed":
      return s.attempt > 0 ? failed(s.attempt, s.error) : undefined;
    case "ready":
      return s.failure === undefined ? undefined : failed(s.attempt - 1, s.failure);
    case "cancelled":
      return before?.state === "running" && before.attempt !== undefined
        ? {
            n: before.attempt,
            outcome: "cancelled",
            ...(s.agent === undefined ? {} : { agent: s.agent }),
            ...from,
            finishedAt: now,
          }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * The stage's document after `status`: its fields from the status (or, for a cache hit of
 * what this run executed before a restart or retry, `executed` itself: still `done`), and the
 * attempt history carried over from `before` with the attempt this status ends.
 */
export function nextStageDoc(
  before: StageDoc | undefined,
  status: StageStatus,
  executed?: StageDoc,
  now = Date.now(),
): StageDoc {
  const doc =
    status.t === "cached" && executed?.state === "done" && executed.key === status.key
      ? { ...executed }
      : stageDocOf(status);
  const attempts = [...(before?.attempts ?? [])];
  const ended = endedAttempt(before, status, now);
  if (ended !== undefined) {
    const at = attempts.findIndex((a) => a.n === ended.n);
    if (at >= 0) attempts[at] = ended;
    else attempts.push(ended);
  }
  if (attempts.length > 0) doc.attempts = attempts;
  else delete doc.attempts;
  return doc;
}
