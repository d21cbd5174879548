/** Events a run emits while it progresses; the CLI renders them, `up` serves them, metrics count them. */
import type { StageStatus, RunOutcome, StageCounts } from "./stage-state.js";

export type RunEvent =
  | { t: "run-started"; runId: string; pipeline: string; stages: number; jobs: number }
  | { t: "stage"; runId: string; pipeline: string; stage: string; status: StageStatus }
  | { t: "log"; runId: string; stage: string; attempt: number; chunk: string }
  | {
      t: "run-finished";
      runId: string;
      pipeline: string;
      outcome: RunOutcome;
      counts: StageCounts;
      durationMs: number;
    };

export type RunEventListener = (e: RunEvent) => void;
