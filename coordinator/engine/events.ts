/** Events a run emits while it progresses; the CLI renders them, `up` serves them, metrics count them. */
import type { ReproDoc } from "../repro/verdict.js";
import type { StageStatus, RunOutcome, StageCounts } from "./stage-state.js";

export type RunEvent =
  | { t: "run-started"; runId: string; pipeline: string; stages: number; jobs: number }
  | { t: "stage"; runId: string; pipeline: string; stage: string; status: StageStatus }
  | { t: "log"; runId: string; stage: string; attempt: number; chunk: string }
  /** The reproducibility check of a stage (`--repro`) started or reached its verdict. */
  | { t: "repro"; runId: string; pipeline: string; stage: string; repro: ReproDoc }
  | {
      t: "run-finished";
      runId: string;
      pipeline: string;
      outcome: RunOutcome;
      counts: StageCounts;
      durationMs: number;
      /** `--repro-strict`: the stage found not reproducible that failed the run. */
      reproFailure?: string;
    };

export type RunEventListener = (e: RunEvent) => void;
