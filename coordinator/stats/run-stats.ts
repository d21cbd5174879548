/** What a finished run adds to the store's stage statistics (./stats-record.ts). */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { StageStatus } from "../engine/stage-state.js";
import type { StageOutcome } from "./stats-record.js";
import { statsStoreFor } from "./stats-store.js";

/** Adds the run's cache hits, executions and failures; a failure to record is logged, not thrown. */
export async function recordRunStats(
  store: ArtifactStore,
  pipeline: string,
  states: ReadonlyMap<string, StageStatus>,
  startedAt: number,
  log: Logger,
): Promise<void> {
  const stats = statsStoreFor(store);
  if (stats === undefined) return;
  const outcomes: StageOutcome[] = [];
  for (const [stage, s] of states)
    if (s.t === "cached") outcomes.push({ stage, t: "cached" });
    else if (s.t === "done") outcomes.push({ stage, t: "done", key: s.key, ms: s.durationMs });
    else if (s.t === "failed" && s.attempt > 0) outcomes.push({ stage, t: "failed" });
  try {
    await stats.addRun(pipeline, outcomes, new Date(startedAt));
  } catch (err: unknown) {
    log.warn({ err: StagefarmError.from(err) }, "could not record stage statistics");
  }
}
