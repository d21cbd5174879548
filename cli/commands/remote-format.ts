/** Plain-data views of API messages for JSON output (the same summary shape as `stagefarm run --json`). */
import type { Run } from "../../proto/gen/stagefarm/v1/run_pb.js";

const STAGE_STATE_NAMES = [
  "unspecified",
  "waiting",
  "ready",
  "running",
  "cached",
  "done",
  "failed",
  "skipped",
  "cancelled",
];
const RUN_STATUS_NAMES = ["unspecified", "running", "succeeded", "failed", "cancelled"];

export function stageStateName(n: number): string {
  return STAGE_STATE_NAMES[n] ?? "unspecified";
}

export function runStatusName(n: number): string {
  return RUN_STATUS_NAMES[n] ?? "unspecified";
}

/** The RunStatus enum number of a status name; 0 (unspecified) when unknown. */
export function runStatusNumber(name: string): number {
  const i = RUN_STATUS_NAMES.indexOf(name);
  return i < 1 ? 0 : i;
}

export function remoteSummary(r: Run) {
  const stages = { executed: 0, cached: 0, failed: 0, skipped: 0, cancelled: 0 };
  const results: Record<string, unknown> = {};
  for (const s of r.stages) {
    const state = stageStateName(s.state);
    if (state === "done") stages.executed++;
    else if (state === "cached" || state === "failed" || state === "skipped" || state === "cancelled")
      stages[state]++;
    results[s.name] = {
      state,
      ...(s.cacheKey === "" ? {} : { key: s.cacheKey }),
      ...(s.agent === "" ? {} : { agent: s.agent }),
      ...(s.reason === "" ? {} : { reason: s.reason }),
      ...(s.error === "" ? {} : { error: s.error }),
      outputs: Object.fromEntries(
        s.outputs.map((o) => [o.name, { digest: o.digest, size: Number(o.size), kind: o.kind }]),
      ),
    };
  }
  const created =
    r.createdAt === undefined ? 0 : Number(r.createdAt.seconds) * 1000 + r.createdAt.nanos / 1e6;
  const finished =
    r.finishedAt === undefined ? Date.now() : Number(r.finishedAt.seconds) * 1000 + r.finishedAt.nanos / 1e6;
  return {
    run: r.id,
    pipeline: r.pipeline,
    status: runStatusName(r.status),
    durationMs: Math.max(0, Math.round(finished - created)),
    stages,
    results,
  };
}
