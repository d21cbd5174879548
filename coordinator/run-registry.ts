/**
 * The runs `stagefarm up`'s JSON API (`GET /api/v1/runs[/ID]`) shows: the coordinator's run
 * documents (./service/run-doc.ts), the same records the gRPC API and the dashboard read, kept
 * in `up`'s state KV across restarts. Without a source (a server with no embedded engine) the
 * list is empty.
 */
import { StagefarmError } from "../shared/errors.js";
import type { RunDoc, StageDoc } from "./service/run-doc.js";
import type { StageCounts } from "./engine/stage-state.js";

/** Where the runs come from: the coordinator (`listRuns`, `getRun`). */
export interface RunSource {
  listRuns(): Promise<RunDoc[]>;
  getRun(id: string): Promise<RunDoc>;
}

export type RunRecord = RunDoc;

export class RunRegistry {
  constructor(private readonly source?: RunSource) {}

  /** Newest first. */
  async list(): Promise<RunRecord[]> {
    return this.source === undefined ? [] : await this.source.listRuns();
  }

  async get(id: string): Promise<RunRecord | undefined> {
    if (this.source === undefined) return undefined;
    try {
      return await this.source.getRun(id);
    } catch (err: unknown) {
      if (StagefarmError.from(err).code === "not_found") return undefined;
      throw err;
    }
  }
}

function countsOf(stages: Iterable<StageDoc>): StageCounts {
  const c: StageCounts = { executed: 0, cached: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const s of stages) {
    if (s.state === "done") c.executed++;
    else if (s.state === "cached") c.cached++;
    else if (s.state === "failed") c.failed++;
    else if (s.state === "skipped") c.skipped++;
    else if (s.state === "cancelled") c.cancelled++;
  }
  return c;
}

/** JSON shape of a run for the HTTP API. */
export function runToJson(r: RunRecord): Record<string, unknown> {
  const stages: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(r.stages)) {
    const { state, error, ...rest } = s;
    stages[name] =
      error === undefined ? { state, ...rest } : { state, ...rest, error: error.message, code: error.code };
  }
  return {
    id: r.id,
    pipeline: r.pipeline,
    params: r.params,
    status: r.status,
    createdAt: new Date(r.createdAt).toISOString(),
    ...(r.finishedAt === undefined ? {} : { finishedAt: new Date(r.finishedAt).toISOString() }),
    ...(r.status === "running" ? {} : { stageCounts: countsOf(Object.values(r.stages)) }),
    stages,
  };
}
