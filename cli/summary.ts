/**
 * The machine-readable summary of a run: the last line `stagefarm run --json` prints (and,
 * later, `stagefarm submit --json`).
 */
import type { ReproDoc, RunResult } from "../coordinator/index.js";
import type { ManifestOutput } from "../shared/store/index.js";

export interface RunSummary {
  run: string;
  pipeline: string;
  status: "succeeded" | "failed" | "cancelled";
  durationMs: number;
  stages: { executed: number; cached: number; failed: number; skipped: number; cancelled: number };
  /** Per stage: final state, cache key, duration, outputs (name → digest/size/kind). */
  results: Record<
    string,
    {
      state: string;
      key?: string;
      durationMs?: number;
      outputs?: Record<string, ManifestOutput>;
      error?: string;
      logPath?: string;
      reason?: string;
      /** `--repro`: the stage's verdict (coordinator/repro/verdict.ts). */
      repro?: ReproDoc;
    }
  >;
  /** `--repro-strict`: why the run failed. */
  error?: string;
}

export function summarize(r: RunResult): RunSummary {
  const results: RunSummary["results"] = {};
  for (const [name, s] of r.states) {
    switch (s.t) {
      case "cached":
        results[name] = { state: s.t, key: s.key, durationMs: 0, outputs: s.outputs };
        break;
      case "done":
        results[name] = {
          state: s.t,
          key: s.key,
          durationMs: s.durationMs,
          outputs: s.outputs,
          logPath: s.logPath,
        };
        break;
      case "failed": {
        const logPath = s.error.details["logPath"];
        results[name] = {
          state: s.t,
          ...(s.key === undefined ? {} : { key: s.key }),
          durationMs: s.durationMs,
          error: s.error.message,
          ...(typeof logPath === "string" ? { logPath } : {}),
        };
        break;
      }
      case "skipped":
      case "cancelled":
      case "waiting":
        results[name] = { state: s.t, reason: s.reason };
        break;
      default:
        results[name] = { state: s.t };
    }
  }
  for (const [name, v] of r.repro) {
    const res = results[name];
    if (res !== undefined) res.repro = v;
  }
  return {
    run: r.runId,
    pipeline: r.pipeline,
    status: r.outcome,
    durationMs: r.durationMs,
    stages: r.counts,
    results,
    ...(r.reproFailure === undefined ? {} : { error: r.reproFailure }),
  };
}
