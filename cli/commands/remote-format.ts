/** Plain-data views of API messages for JSON output (the same summary shape as `stagefarm run --json`). */
import {
  AttemptOutcomeSchema,
  DispatchEnd,
  DispatchEndSchema,
  RunStatusSchema,
  StageStateSchema,
  type Attempt,
  type Run,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { enumValueName, enumValueNumber } from "../../shared/protocol/enum-names.js";
import { reproDocOf } from "./repro-format.js";

function isoOf(t: Timestamp | undefined): string | undefined {
  return t === undefined ? undefined : new Date(Number(t.seconds) * 1000 + t.nanos / 1e6).toISOString();
}

/** An attempt with its dispatches (every hand-out to an agent and why it ended). */
function attemptSummary(a: Attempt) {
  return {
    number: a.number,
    ...(a.agent === "" ? {} : { agent: a.agent }),
    outcome: enumValueName(AttemptOutcomeSchema, a.outcome),
    dispatches: a.dispatches.map((d) => ({
      number: d.number,
      ...(d.agent === "" ? {} : { agent: d.agent }),
      ...(isoOf(d.startedAt) === undefined ? {} : { startedAt: isoOf(d.startedAt) }),
      ...(isoOf(d.finishedAt) === undefined ? {} : { finishedAt: isoOf(d.finishedAt) }),
      end: d.end === DispatchEnd.ACTIVE ? "running" : enumValueName(DispatchEndSchema, d.end),
    })),
  };
}

export function stageStateName(n: number): string {
  return enumValueName(StageStateSchema, n);
}

export function runStatusName(n: number): string {
  return enumValueName(RunStatusSchema, n);
}

/** The RunStatus enum number of a status name; 0 (unspecified) when unknown. */
export function runStatusNumber(name: string): number {
  return enumValueNumber(RunStatusSchema, name);
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
      ...(s.attempts.length === 0 ? {} : { attempts: s.attempts.map(attemptSummary) }),
      ...(s.repro === undefined ? {} : { repro: reproDocOf(s.repro) }),
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
    ...(r.releaseInputs.length === 0
      ? {}
      : {
          releaseInputs: r.releaseInputs.map((s) => ({
            stage: s.stage,
            input: s.input,
            release: s.release,
            digest: s.digest,
            run: s.run,
          })),
        }),
    ...(r.error === "" ? {} : { error: r.error }),
  };
}
