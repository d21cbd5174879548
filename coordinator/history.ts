/**
 * Recorded stage durations: every action-cache manifest records the pipeline, the stage and how
 * long the execution that produced it took. A plan expects a stage to take the median of its
 * recorded executions (any key: a param change still takes about as long), and falls back to
 * the pipeline's `estimate:` when there is no history.
 */
import type { ArtifactStore } from "../shared/store/types.js";

export interface StageHistory {
  /** Recorded durations of each stage of the pipeline, oldest first. */
  durations: Map<string, number[]>;
}

export async function loadStageHistory(store: ArtifactStore, pipeline: string): Promise<StageHistory> {
  const rows: Array<{ stage: string; at: string; ms: number }> = [];
  for await (const m of store.listManifests())
    if (m.pipeline === pipeline) rows.push({ stage: m.stage, at: m.createdAt, ms: m.durationMs });
  rows.sort((a, b) => a.at.localeCompare(b.at));
  const durations = new Map<string, number[]>();
  for (const r of rows) {
    const list = durations.get(r.stage) ?? [];
    list.push(r.ms);
    durations.set(r.stage, list);
  }
  return { durations };
}

/** The median of `values` (the lower middle value for an even count); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Expected duration of a stage: the median of its history, else its estimate, else 1 minute. */
export function expectedDuration(
  history: StageHistory,
  stage: string,
  estimateMs: number | undefined,
): { ms: number; from: "history" | "estimate" | "default"; runs: number } {
  const recorded = history.durations.get(stage) ?? [];
  const m = median(recorded);
  if (m !== undefined) return { ms: m, from: "history", runs: recorded.length };
  if (estimateMs !== undefined) return { ms: estimateMs, from: "estimate", runs: 0 };
  return { ms: 60_000, from: "default", runs: 0 };
}
