/**
 * Expected stage durations for `stagefarm plan`: a stage is expected to take the p50 of its
 * recorded executions, counted as `stagefarm stats` counts them (the engine's `stats/` record,
 * plus older action-cache manifests; any key, as a param change still takes about as long),
 * else its `estimate:`, else 1 minute. One source for `plan` and `stats --critical-path`.
 */
import type { PipelineStatsReport } from "./stats/stage-stats.js";

export interface ExpectedDuration {
  ms: number;
  from: "history" | "estimate" | "default";
  /** Executions the p50 is taken over. */
  runs: number;
}

/** Expected duration of a stage: its p50, else its estimate, else 1 minute. */
export function expectedDuration(
  report: PipelineStatsReport | undefined,
  stage: string,
  estimateMs: number | undefined,
): ExpectedDuration {
  const row = report?.stages.find((r) => r.stage === stage);
  if (row?.p50Ms !== undefined) return { ms: row.p50Ms, from: "history", runs: row.executions };
  if (estimateMs !== undefined) return { ms: estimateMs, from: "estimate", runs: 0 };
  return { ms: 60_000, from: "default", runs: 0 };
}
