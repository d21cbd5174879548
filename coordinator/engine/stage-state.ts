/**
 * The state of one stage in one run, as a discriminated union.
 *
 *   waiting ──(all upstream outputs known)──► ready ──(cache hit)──► cached
 *      │                                        │
 *      │                                        └─(slot free)─► running ─► done
 *      │                                                           │
 *      │                                                           ├─(retries left)─► ready
 *      │                                                           └─► failed
 *      ├─(an upstream stage failed)─► skipped
 *      └─(run cancelled)─► cancelled        (running → cancelled as well)
 *
 *   failed ──(retried while the run goes on)──► waiting, and the stages it skipped with it
 *
 * `cached`, `done`, `failed`, `skipped` and `cancelled` are terminal: the run ends when every
 * stage is, and only a retry (run-engine.ts `retryStage`) moves a failed stage on again.
 */
import type { Digest } from "../../shared/digest.js";
import type { StagefarmError } from "../../shared/errors.js";
import type { ManifestOutput } from "../../shared/store/index.js";

export type StageStatus =
  | { t: "waiting"; reason: string }
  | {
      t: "ready";
      key: Digest;
      attempt: number;
      readyAt: number;
      /** In retry backoff until then. */ retryAt?: number;
      /** Why the previous attempt failed (a retry). */ failure?: StagefarmError;
    }
  | { t: "running"; key: Digest; attempt: number; startedAt: number }
  | {
      t: "cached";
      key: Digest;
      outputs: Record<string, ManifestOutput>;
      durationMs: number;
      /** Who made the cache entry (its manifest's producer: an agent id when distributed). */
      producer?: string;
    }
  | {
      t: "done";
      key: Digest;
      outputs: Record<string, ManifestOutput>;
      attempt: number;
      durationMs: number;
      logPath: string;
      /** The agent that ran it. */
      agent?: string;
    }
  | { t: "failed"; key?: Digest; attempt: number; error: StagefarmError; durationMs: number }
  | { t: "skipped"; reason: string }
  | { t: "cancelled"; reason: string; /** The agent that was running it, if one was. */ agent?: string };

export function isTerminal(s: StageStatus): boolean {
  return s.t === "cached" || s.t === "done" || s.t === "failed" || s.t === "skipped" || s.t === "cancelled";
}

/** Outputs of a stage that finished well (cached or done), else undefined. */
export function outputsOf(s: StageStatus): Record<string, ManifestOutput> | undefined {
  return s.t === "cached" || s.t === "done" ? s.outputs : undefined;
}

export type RunOutcome = "succeeded" | "failed" | "cancelled";

export interface StageCounts {
  executed: number;
  cached: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

export function countStages(states: Iterable<StageStatus>): StageCounts {
  const c: StageCounts = { executed: 0, cached: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const s of states) {
    if (s.t === "done") c.executed++;
    else if (s.t === "cached") c.cached++;
    else if (s.t === "failed") c.failed++;
    else if (s.t === "skipped") c.skipped++;
    else if (s.t === "cancelled") c.cancelled++;
  }
  return c;
}
