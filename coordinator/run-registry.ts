/**
 * In-memory view of the runs a long-lived engine (`stagefarm up`) has started, fed by run
 * events. The durable record of work is the action cache; this is what the API shows.
 */
import type { RunEvent } from "./engine/events.js";
import type { RunOutcome, StageCounts, StageStatus } from "./engine/stage-state.js";

export interface RunRecord {
  id: string;
  pipeline: string;
  params: Record<string, string>;
  status: "running" | RunOutcome;
  createdAt: string;
  finishedAt?: string;
  counts?: StageCounts;
  stages: Map<string, StageStatus>;
}

export class RunRegistry {
  private readonly runs = new Map<string, RunRecord>();

  constructor(private readonly maxRuns = 1000) {}

  add(id: string, pipeline: string, params: Record<string, string>): RunRecord {
    const rec: RunRecord = {
      id,
      pipeline,
      params,
      status: "running",
      createdAt: new Date().toISOString(),
      stages: new Map(),
    };
    this.runs.set(id, rec);
    this.evict();
    return rec;
  }

  readonly onEvent = (e: RunEvent): void => {
    const rec = this.runs.get(e.runId);
    if (rec === undefined) return;
    if (e.t === "stage") rec.stages.set(e.stage, e.status);
    else if (e.t === "run-started") {
      // Started again (a stage retried): running until it finishes again.
      rec.status = "running";
      delete rec.finishedAt;
      delete rec.counts;
    } else if (e.t === "run-finished") {
      rec.status = e.outcome;
      rec.counts = e.counts;
      rec.finishedAt = new Date().toISOString();
    }
  };

  get(id: string): RunRecord | undefined {
    return this.runs.get(id);
  }

  list(): RunRecord[] {
    return [...this.runs.values()].reverse();
  }

  active(): number {
    let n = 0;
    for (const r of this.runs.values()) if (r.status === "running") n++;
    return n;
  }

  private evict(): void {
    for (const [id, r] of this.runs) {
      if (this.runs.size <= this.maxRuns) return;
      if (r.status !== "running") this.runs.delete(id);
    }
  }
}

/** JSON shape of a run for the HTTP API. */
export function runToJson(r: RunRecord): Record<string, unknown> {
  const stages: Record<string, unknown> = {};
  for (const [name, s] of r.stages) {
    const { t, ...rest } = s;
    stages[name] =
      t === "failed" && "error" in rest
        ? { state: t, error: rest.error.message, code: rest.error.code }
        : { state: t, ...rest };
  }
  return {
    id: r.id,
    pipeline: r.pipeline,
    params: r.params,
    status: r.status,
    createdAt: r.createdAt,
    ...(r.finishedAt === undefined ? {} : { finishedAt: r.finishedAt }),
    ...(r.counts === undefined ? {} : { stageCounts: r.counts }),
    stages,
  };
}
