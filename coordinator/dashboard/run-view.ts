/**
 * Builds the `Run` and `StageRun` messages the dashboard shows, from the coordinator's run
 * document plus what dispatch knows: the agent of each attempt, when it was claimed, why a
 * queued stage waits. On top of ../api/run-message.ts (the gRPC API's conversion) it fills
 * `StageRun.attempts`, the stage times of finished stages, and `Run.error`.
 *
 * Attempts: the run document keeps every finished attempt (agent, times, outcome, error); the
 * attempt journal (./run-tracker.ts) adds what the dashboard saw live (the running attempt's
 * agent from its claim), and the dispatch record the latest attempt's.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  RunSchema,
  RunStatus,
  StageState,
  type Run,
  type StageRun,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import { quoted } from "../../shared/util/excerpt.js";
import { parsePipeline, resolvePipeline, stageDeps, runEta } from "../../shared/pipeline/index.js";
import { ownAttempts, runStatusOf, stageCounts, stageMessage, withRepro } from "../api/run-message.js";
import type { ReproDoc } from "../repro/verdict.js";
import { attemptsOf, type AttemptSources } from "../api/attempts.js";
import type { RunDoc, StageDoc } from "../service/run-doc.js";

/** The static part of a run: its stages in file order, their runners, edges and labels. */
export interface RunShape {
  names: string[];
  runner: Map<string, string>;
  deps: Map<string, string[]>;
  requires: Map<string, string[]>;
  /** `estimate:` of each stage that has one. */
  estimates?: Map<string, number>;
  /** Expected duration of each stage (history, estimate or default), once loaded. */
  expected?: Map<string, number>;
}

export function shapeOf(doc: RunDoc): RunShape {
  const spec = parsePipeline(doc.yaml, doc.path);
  let requires = new Map(spec.stages.map((s) => [s.name, s.requires]));
  try {
    requires = new Map(resolvePipeline(spec, doc.params).map((s) => [s.name, s.requires]));
  } catch {
    // Params that no longer resolve: keep the labels as written.
  }
  return {
    names: spec.stages.map((s) => s.name),
    runner: new Map(spec.stages.map((s) => [s.name, s.runner])),
    deps: new Map(spec.stages.map((s) => [s.name, stageDeps(s)])),
    requires,
    estimates: new Map(
      spec.stages.flatMap((s) => (s.estimateMs === undefined ? [] : [[s.name, s.estimateMs]])),
    ),
  };
}

/** What dispatch adds to a stage document. */
export interface StageExtras extends AttemptSources {
  /** For a queued dispatch: why no agent took it yet. */
  queuedReason?: string | undefined;
  /** The stage's reproducibility check (`--repro`). */
  repro?: ReproDoc | undefined;
}

export function buildStage(
  runId: string,
  name: string,
  s: StageDoc,
  shape: RunShape | undefined,
  x: StageExtras = {},
): StageRun {
  const view = { record: x.record, reason: x.queuedReason };
  const m = stageMessage(name, s, shape?.runner.get(name) ?? "", shape?.deps.get(name) ?? [], view);
  m.attempts = attemptsOf(runId, name, s, { ...x, upTo: ownAttempts(x.repro) });
  withRepro(m, x.repro, view);
  m.expectedMs = Math.min(0xffff_ffff, Math.max(0, Math.round(shape?.expected?.get(name) ?? 0)));
  const last = m.attempts[m.attempts.length - 1];
  if (m.startedAt === undefined && last?.startedAt !== undefined && s.state !== "ready")
    m.startedAt = last.startedAt;
  if (m.finishedAt === undefined && last?.finishedAt !== undefined && s.state !== "running")
    m.finishedAt = last.finishedAt;
  if (m.state === StageState.RUNNING && m.agent === "" && last?.agent) m.agent = last.agent;
  return m;
}

function runError(doc: RunDoc, stages: readonly StageRun[]): string {
  if (doc.status === "cancelled") return "cancelled";
  if (doc.status !== "failed") return "";
  if (doc.repro?.failure !== undefined) return doc.repro.failure;
  const failed = stages.filter((s) => s.state === StageState.FAILED);
  const first = failed[0];
  if (first === undefined) return "failed";
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more failed stages)` : "";
  return `stage ${first.name} failed: ${first.error}${more}`;
}

/** The run with every stage (`stages` in file order), or a summary without them. */
export function buildRun(
  doc: RunDoc,
  stages: readonly StageRun[],
  opts: { withStages: boolean; now?: number },
): Run {
  const run = create(RunSchema, {
    id: doc.id,
    pipeline: doc.pipeline,
    pipelinePath: doc.path,
    params: doc.params,
    status: runStatusOf(doc.status),
    createdAt: timestampFromMs(doc.createdAt),
    stages: opts.withStages ? [...stages] : [],
    stageCounts: stageCounts(stages),
    error: runError(doc, stages),
  });
  if (doc.finishedAt !== undefined) run.finishedAt = timestampFromMs(doc.finishedAt);
  if (doc.status === "running" && stages.length > 0) run.etaMs = etaOf(stages, opts.now ?? Date.now());
  return run;
}

const FINISHED = new Set([
  StageState.DONE,
  StageState.CACHED,
  StageState.FAILED,
  StageState.SKIPPED,
  StageState.CANCELLED,
]);

/** The run's expected time left (`runEta`, no slot limit: the farm's capacity varies), in ms. */
function etaOf(stages: readonly StageRun[], now: number): number {
  const eta = runEta(
    stages.map((s) => ({
      name: s.name,
      after: s.dependsOn,
      expectedMs: s.expectedMs,
      state: FINISHED.has(s.state) ? "finished" : s.state === StageState.RUNNING ? "running" : "pending",
      ...(s.state === StageState.RUNNING && s.startedAt !== undefined
        ? { elapsedMs: Math.max(0, now - timestampMs(s.startedAt)) }
        : {}),
    })),
  );
  return Math.min(0xffff_ffff, Math.round(eta.remainingMs));
}

/** A summary from the document alone (the runs list): no pipeline parse, no dispatch records. */
export function summaryOf(doc: RunDoc): Run {
  const stages = Object.entries(doc.stages).map(([name, s]) => buildStage(doc.id, name, s, undefined));
  return buildRun(doc, stages, { withStages: false });
}

const STATUS_NAMES: Record<string, RunStatus> = {
  running: RunStatus.RUNNING,
  succeeded: RunStatus.SUCCEEDED,
  failed: RunStatus.FAILED,
  cancelled: RunStatus.CANCELLED,
};

/** The run statuses a `status=` filter names (comma-separated; `RUN_STATUS_` optional). */
export function parseRunStatuses(v: string | null): Set<RunStatus> {
  const out = new Set<RunStatus>();
  for (const raw of (v ?? "").split(",")) {
    const name = raw
      .trim()
      .toLowerCase()
      .replace(/^run_status_/, "");
    if (name === "") continue;
    const s = STATUS_NAMES[name];
    if (s === undefined)
      throw new StagefarmError("invalid_argument", `unknown run status ${quoted(raw, 40)}`);
    out.add(s);
  }
  return out;
}
