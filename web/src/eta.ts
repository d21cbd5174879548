/**
 * The run's ETA, live: the coordinator's `runEta` (the same function that fills the run's
 * `etaMs`) over the stages as the page knows them now, with their expected durations as served.
 */
import { runEta } from "../../shared/pipeline/run-eta";
import { isTerminal, type Run } from "./api/types";

/** Expected time left of a running run, in ms; undefined when no stage has an expected duration. */
export function liveEta(run: Run, now: number): number | undefined {
  if (!run.stages.some((s) => s.expectedMs > 0)) return undefined;
  return runEta(
    run.stages.map((s) => ({
      name: s.name,
      after: s.dependsOn,
      expectedMs: s.expectedMs,
      state: isTerminal(s.state) ? "finished" : s.state === "running" ? "running" : "pending",
      ...(s.state === "running" && s.startedAt !== undefined ? { elapsedMs: now - s.startedAt } : {}),
    })),
  ).remainingMs;
}
