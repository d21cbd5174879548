/**
 * The engine's record of how a pipeline's stages fared, `stats/<pipeline>.json` in the store.
 * Action-cache manifests already record how long each *execution* took; they cannot tell how
 * often a stage was a cache hit (a hit writes nothing). So after every run that was not
 * cancelled, the engine adds to this record, per stage: cache hits, executions, failures, and
 * the last {@link MAX_DURATIONS} execution durations with their cache keys (so `stagefarm
 * stats` counts an execution once when its manifest is also there).
 */
import { z } from "zod";
import { StagefarmError } from "../../shared/errors.js";

/** Durations kept per stage (the newest). */
export const MAX_DURATIONS = 50;

const execution = z.object({ key: z.string(), ms: z.number().nonnegative(), at: z.string() });

export const stageStatsSchema = z.object({
  hits: z.number().int().nonnegative(),
  executions: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
  /** Newest last. */
  durations: z.array(execution),
});
export type StageStats = z.infer<typeof stageStatsSchema>;

export const pipelineStatsSchema = z.object({
  v: z.literal(1),
  pipeline: z.string(),
  runs: z.number().int().nonnegative(),
  /** When the first recorded run started: older manifests are executions not counted here. */
  since: z.string().optional(),
  updatedAt: z.string(),
  stages: z.record(z.string(), stageStatsSchema),
});
export type PipelineStats = z.infer<typeof pipelineStatsSchema>;

/** What one run adds: each stage that ended cached, done or failed. */
export type StageOutcome =
  | { stage: string; t: "cached" }
  | { stage: string; t: "done"; key: string; ms: number }
  | { stage: string; t: "failed" };

export function emptyStats(pipeline: string): PipelineStats {
  return { v: 1, pipeline, runs: 0, updatedAt: new Date(0).toISOString(), stages: {} };
}

/**
 * `stats` with the outcomes of one run, which started at `startedAt` and ended at `at`, added
 * (a new object; `stats` is not changed).
 */
export function addRun(
  stats: PipelineStats,
  outcomes: readonly StageOutcome[],
  times: { startedAt: Date; at: Date },
): PipelineStats {
  const { at } = times;
  const stages: Record<string, StageStats> = {};
  for (const [name, s] of Object.entries(stats.stages)) stages[name] = { ...s, durations: [...s.durations] };
  for (const o of outcomes) {
    const s = (stages[o.stage] ??= { hits: 0, executions: 0, failures: 0, durations: [] });
    if (o.t === "cached") s.hits++;
    else if (o.t === "failed") s.failures++;
    else {
      s.executions++;
      s.durations.push({ key: o.key, ms: o.ms, at: at.toISOString() });
      if (s.durations.length > MAX_DURATIONS) s.durations.splice(0, s.durations.length - MAX_DURATIONS);
    }
  }
  return {
    v: 1,
    pipeline: stats.pipeline,
    runs: stats.runs + 1,
    since: stats.since ?? times.startedAt.toISOString(),
    updatedAt: at.toISOString(),
    stages,
  };
}

export function parseStats(text: string, where: string): PipelineStats {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err: unknown) {
    throw new StagefarmError("corrupt_artifact", `${where} is not valid JSON`, { cause: err });
  }
  const r = pipelineStatsSchema.safeParse(raw);
  if (!r.success)
    throw new StagefarmError(
      "corrupt_artifact",
      `${where} is not a stage statistics record: ${r.error.message}`,
    );
  return r.data;
}
