/** Converts the coordinator's run documents and dispatch records into the API's protobuf messages. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  RunSchema,
  RunStatus,
  StageCountsSchema,
  StageRunSchema,
  StageState,
  type Run,
  type StageCounts,
  type StageRun,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import {
  AgentSchema,
  AgentState,
  CacheEntrySchema,
  type Agent,
  type CacheEntry,
} from "../../proto/gen/stagefarm/v1/service_pb.js";
import { parsePipeline, stageDeps } from "../../shared/pipeline/index.js";
import type { Manifest } from "../../shared/store/index.js";
import type { AgentInfo } from "../dispatch/agent-registry.js";
import type { DispatchRecord } from "../dispatch/dispatch-record.js";
import type { RunDoc, StageDoc } from "../service/run-doc.js";
import { reproMessage } from "../repro/repro-message.js";
import type { ReproDoc } from "../repro/verdict.js";
import { attemptsOf } from "./attempts.js";

const STAGE_STATES: Record<StageDoc["state"], StageState> = {
  waiting: StageState.WAITING,
  ready: StageState.READY,
  running: StageState.RUNNING,
  cached: StageState.CACHED,
  done: StageState.DONE,
  failed: StageState.FAILED,
  skipped: StageState.SKIPPED,
  cancelled: StageState.CANCELLED,
};

const RUN_STATUSES: Record<RunDoc["status"], RunStatus> = {
  running: RunStatus.RUNNING,
  succeeded: RunStatus.SUCCEEDED,
  failed: RunStatus.FAILED,
  cancelled: RunStatus.CANCELLED,
};

export function runStatusOf(status: RunDoc["status"]): RunStatus {
  return RUN_STATUSES[status];
}

/**
 * Stage states whose dispatch record tells something (the agent, the claim, the result, earlier
 * dispatches): the API and the dashboard read the record for exactly these.
 */
export const DISPATCHED_STATES: ReadonlySet<StageDoc["state"]> = new Set([
  "ready",
  "running",
  "done",
  "failed",
  "cancelled",
]);

/** What the dispatch layer knows about a stage the engine considers running. */
export interface DispatchView {
  record: DispatchRecord | undefined;
  /** For a queued dispatch: why no agent took it yet. */
  reason: string | undefined;
}

export function stageMessage(
  name: string,
  s: StageDoc,
  runner: string,
  deps: string[],
  d?: DispatchView,
): StageRun {
  const init: MessageInitShape<typeof StageRunSchema> = {
    name,
    state: STAGE_STATES[s.state],
    cacheKey: s.key ?? "",
    reason: s.reason ?? "",
    attempt: s.attempt ?? 0,
    outputs: Object.entries(s.outputs ?? {}).map(([n, o]) => ({
      name: n,
      digest: o.digest,
      size: BigInt(o.size),
      kind: o.kind,
    })),
    error: s.error?.message ?? "",
    runner,
    dependsOn: deps,
  };
  if (s.startedAt !== undefined) init.startedAt = timestampFromMs(s.startedAt);
  if (s.startedAt !== undefined && s.durationMs !== undefined)
    init.finishedAt = timestampFromMs(s.startedAt + s.durationMs);
  const rec = d?.record;
  if (s.state === "running" && rec !== undefined) {
    if (rec.t === "queued") {
      init.state = StageState.READY;
      init.reason = d?.reason ?? "queued";
    } else if (rec.t === "running") init.agent = rec.owner;
  }
  // A later attempt in the record is the second build of a reproducibility check, not the stage's.
  if (rec?.t === "finished" && rec.attempt === s.attempt) init.agent = rec.owner;
  return create(StageRunSchema, init);
}

/**
 * The last attempt of a stage's own: a later one is the second build of its reproducibility
 * check, shown in `StageRun.repro`, not among the stage's attempts.
 */
export function ownAttempts(repro: ReproDoc | undefined): number | undefined {
  const second = repro?.second?.attempt;
  return second === undefined ? undefined : second - 1;
}

/** Puts a stage's reproducibility check on its message (with why its second build is queued). */
export function withRepro(m: StageRun, repro: ReproDoc | undefined, d: DispatchView | undefined): void {
  if (repro === undefined) return;
  const rec = d?.record;
  const queued = rec?.t === "queued" && rec.attempt === repro.second?.attempt;
  m.repro = reproMessage(repro, queued ? d?.reason : undefined);
}

const COUNT_KEYS = {
  [StageState.UNSPECIFIED]: "waiting",
  [StageState.WAITING]: "waiting",
  [StageState.READY]: "ready",
  [StageState.RUNNING]: "running",
  [StageState.CACHED]: "cached",
  [StageState.DONE]: "done",
  [StageState.FAILED]: "failed",
  [StageState.SKIPPED]: "skipped",
  [StageState.CANCELLED]: "cancelled",
} as const;

/** How many of the run's stages are in each state. */
export function stageCounts(stages: readonly StageRun[]): StageCounts {
  const counts = {
    total: 0,
    waiting: 0,
    ready: 0,
    running: 0,
    cached: 0,
    done: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
  };
  for (const s of stages) {
    counts.total++;
    counts[COUNT_KEYS[s.state]]++;
  }
  return create(StageCountsSchema, counts);
}

/** An action-cache manifest as the API's `CacheEntry`. */
export function cacheEntryMessage(m: Manifest): CacheEntry {
  return create(CacheEntrySchema, {
    key: m.key,
    pipeline: m.pipeline,
    stage: m.stage,
    runner: m.runner,
    outputs: Object.entries(m.outputs).map(([name, o]) => ({
      name,
      digest: o.digest,
      size: BigInt(o.size),
      kind: o.kind,
    })),
    log: m.log ?? "",
    createdAt: timestampFromMs(Date.parse(m.createdAt)),
    durationMs: BigInt(m.durationMs),
    producer: m.producer,
  });
}

export function runMessage(doc: RunDoc, dispatch: ReadonlyMap<string, DispatchView> = new Map()): Run {
  const spec = parsePipeline(doc.yaml, doc.path);
  const stages = spec.stages.map((st) => {
    const s = doc.stages[st.name] ?? { state: "waiting" as const, reason: "waiting" };
    const view = dispatch.get(st.name);
    const m = stageMessage(st.name, s, st.runner, stageDeps(st), view);
    const repro = doc.repro?.verdicts[st.name];
    m.attempts = attemptsOf(doc.id, st.name, s, { record: view?.record, upTo: ownAttempts(repro) });
    withRepro(m, repro, view);
    return m;
  });
  const init: MessageInitShape<typeof RunSchema> = {
    id: doc.id,
    pipeline: doc.pipeline,
    pipelinePath: doc.path,
    params: doc.params,
    status: RUN_STATUSES[doc.status],
    createdAt: timestampFromMs(doc.createdAt),
    stages,
    stageCounts: stageCounts(stages),
    releaseInputs: (doc.releaseInputs ?? []).map((s) => ({ ...s, run: s.run ?? "" })),
  };
  if (doc.finishedAt !== undefined) init.finishedAt = timestampFromMs(doc.finishedAt);
  if (doc.repro?.failure !== undefined) init.error = doc.repro.failure;
  return create(RunSchema, init);
}

const AGENT_STATES: Record<AgentInfo["state"], AgentState> = {
  idle: AgentState.IDLE,
  busy: AgentState.BUSY,
  draining: AgentState.DRAINING,
  offline: AgentState.OFFLINE,
};

export function agentMessage(a: AgentInfo): Agent {
  return create(AgentSchema, {
    id: a.hb.agentId,
    hostname: a.hb.hostname,
    labels: a.hb.labels,
    slots: a.hb.slots,
    busySlots: a.hb.running.length,
    state: AGENT_STATES[a.state],
    currentStages: a.hb.running.map((r) => `${r.runId}/${r.stage}`),
    lastHeartbeat: timestampFromMs(a.lastSeen),
    diskFreeBytes: BigInt(Math.floor(a.hb.diskFreeBytes)),
    version: a.hb.version,
  });
}
