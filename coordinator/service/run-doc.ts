/**
 * The durable record of a run in KV (`runs.<id>`): what was submitted (the pipeline text, so a
 * restarted coordinator can resume it) and the last known state of every stage. The
 * coordinator is its only writer.
 */
import { z } from "zod";
import { outputSchema } from "../../shared/protocol/messages.js";
import type { StageStatus } from "../engine/stage-state.js";

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
});
export type StageDoc = z.infer<typeof stageDocSchema>;

export const runDocSchema = z.object({
  v: z.literal(1),
  id: z.string(),
  pipeline: z.string(),
  path: z.string(),
  yaml: z.string(),
  params: z.record(z.string(), z.string()),
  status: z.enum(["running", "succeeded", "failed", "cancelled"]),
  createdAt: z.number(),
  finishedAt: z.number().optional(),
  stages: z.record(z.string(), stageDocSchema),
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
