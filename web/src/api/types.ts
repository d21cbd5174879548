/**
 * The dashboard's view of the API's protobuf messages (proto/stagefarm/v1/*.proto). The server
 * sends them as proto3 JSON (`toJson`): lowerCamelCase fields, enum value names, RFC 3339
 * timestamps, 64-bit integers as strings, and fields at their default value left out. The
 * `*Json` types are that wire shape; the functions below turn them into plain values with the
 * defaults filled in, so the views never see a missing field.
 */

import { ReproState } from "../../../proto/gen/stagefarm/v1/repro_pb";
import { AttemptOutcome, RunStatus, StageState } from "../../../proto/gen/stagefarm/v1/run_pb";
import { AgentState } from "../../../proto/gen/stagefarm/v1/service_pb";

/** The value names of a generated enum as the views use them: `TIMED_OUT` → "timed_out", no UNSPECIFIED. */
type NamesOf<E> = Lowercase<Exclude<Extract<keyof E, string>, "UNSPECIFIED">>;

export type StageStateName = NamesOf<typeof StageState>;
export type RunStatusName = NamesOf<typeof RunStatus> | "unknown";
export type OutcomeName = NamesOf<typeof AttemptOutcome> | "unknown";
export type AgentStateName = NamesOf<typeof AgentState> | "unknown";
type ReproStateName = NamesOf<typeof ReproState>;

export interface OutputRefJson {
  name?: string;
  digest?: string;
  size?: string;
  kind?: string;
}
export interface AttemptJson {
  number?: number;
  agent?: string;
  startedAt?: string;
  finishedAt?: string;
  outcome?: string;
  error?: string;
  logPath?: string;
}
export interface StageRunJson {
  name?: string;
  state?: string;
  cacheKey?: string;
  reason?: string;
  attempt?: number;
  startedAt?: string;
  finishedAt?: string;
  outputs?: OutputRefJson[];
  error?: string;
  runner?: string;
  agent?: string;
  attempts?: AttemptJson[];
  dependsOn?: string[];
  expectedMs?: number;
  repro?: ReproJson;
}
interface ReproBuildJson {
  attempt?: number;
  agent?: string;
  cached?: boolean;
}
export interface ReproJson {
  state?: string;
  first?: ReproBuildJson;
  second?: ReproBuildJson;
  error?: string;
  reason?: string;
  outputs?: Array<{
    name?: string;
    digestA?: string;
    digestB?: string;
    identical?: boolean;
    summary?: string;
    morePackages?: number;
    packages?: Array<{
      key?: string;
      cpvA?: string;
      cpvB?: string;
      vdb?: string[];
      onlyA?: number;
      onlyB?: number;
      differing?: number;
      what?: string[];
      paths?: string[];
    }>;
  }>;
}
export interface StageCountsJson {
  total?: number;
  waiting?: number;
  ready?: number;
  running?: number;
  cached?: number;
  done?: number;
  failed?: number;
  skipped?: number;
  cancelled?: number;
}
export interface RunJson {
  id?: string;
  pipeline?: string;
  params?: Record<string, string>;
  status?: string;
  createdAt?: string;
  finishedAt?: string;
  stages?: StageRunJson[];
  pipelinePath?: string;
  stageCounts?: StageCountsJson;
  error?: string;
  etaMs?: number;
}
export interface RunEventJson {
  runId?: string;
  at?: string;
  stage?: StageRunJson;
  run?: RunJson;
  status?: string;
}
export interface LogChunkJson {
  stage?: string;
  attempt?: number;
  /** base64 */
  data?: string;
  offset?: string;
}
export interface AgentJson {
  id?: string;
  hostname?: string;
  labels?: string[];
  slots?: number;
  busySlots?: number;
  state?: string;
  currentStages?: string[];
  lastHeartbeat?: string;
  diskFreeBytes?: string;
  version?: string;
}
export interface CacheEntryJson {
  key?: string;
  pipeline?: string;
  stage?: string;
  runner?: string;
  outputs?: OutputRefJson[];
  log?: string;
  createdAt?: string;
  durationMs?: string;
  producer?: string;
}

export interface Output {
  name: string;
  digest: string;
  size: number;
  kind: string;
}
export interface Attempt {
  number: number;
  agent: string;
  startedAt?: number;
  finishedAt?: number;
  outcome: OutcomeName;
  error: string;
  logPath: string;
}
export interface Stage {
  name: string;
  state: StageStateName;
  cacheKey: string;
  reason: string;
  attempt: number;
  startedAt?: number;
  finishedAt?: number;
  outputs: Output[];
  error: string;
  runner: string;
  agent: string;
  attempts: Attempt[];
  dependsOn: string[];
  /** Expected duration (recorded p50, else `estimate:`); 0 when unknown. */
  expectedMs: number;
  repro?: Repro;
}
/** A stage's reproducibility check (`--repro`). */
export interface Repro {
  state: "building" | "reproducible" | "differs" | "error";
  first: string;
  second: string;
  error: string;
  reason: string;
  outputs: Array<{
    name: string;
    digestA: string;
    digestB: string;
    identical: boolean;
    summary: string;
    morePackages: number;
    packages: Array<{
      name: string;
      vdb: string[];
      onlyA: number;
      onlyB: number;
      differing: number;
      what: string[];
      paths: string[];
    }>;
  }>;
}

function buildName(b: ReproBuildJson | undefined): string {
  const where = b?.agent === undefined || b.agent === "" ? "" : ` on ${b.agent}`;
  return b?.cached === true ? `cache entry${where}` : `attempt ${b?.attempt ?? "?"}${where}`;
}

export function reproOf(j: ReproJson): Repro {
  return {
    state: enumName<ReproStateName>(ReproState, "REPRO_STATE_", j.state, "error"),
    first: buildName(j.first),
    second: buildName(j.second),
    error: j.error ?? "",
    reason: j.reason ?? "",
    outputs: (j.outputs ?? []).map((o) => ({
      name: o.name ?? "",
      digestA: o.digestA ?? "",
      digestB: o.digestB ?? "",
      identical: o.identical === true,
      summary: o.summary ?? "",
      morePackages: o.morePackages ?? 0,
      packages: (o.packages ?? []).map((p) => ({
        name: p.cpvB ?? p.cpvA ?? p.key ?? "(owned by no package)",
        vdb: p.vdb ?? [],
        onlyA: p.onlyA ?? 0,
        onlyB: p.onlyB ?? 0,
        differing: p.differing ?? 0,
        what: p.what ?? [],
        paths: p.paths ?? [],
      })),
    })),
  };
}
export type Counts = Required<StageCountsJson>;
export interface Run {
  id: string;
  pipeline: string;
  params: Record<string, string>;
  status: RunStatusName;
  createdAt?: number;
  finishedAt?: number;
  stages: Stage[];
  pipelinePath: string;
  counts: Counts;
  error: string;
  /** Expected time left when the run was read (0: finished or unknown); the page recomputes it live (../eta.ts). */
  etaMs: number;
}
export interface Agent {
  id: string;
  hostname: string;
  labels: string[];
  slots: number;
  busySlots: number;
  state: AgentStateName;
  currentStages: string[];
  lastHeartbeat?: number;
  diskFreeBytes: number;
  version: string;
}

/**
 * `STAGE_STATE_RUNNING` → `running`, checked against the generated enum (its TypeScript object:
 * the enum descriptors would add the protobuf runtime to the page); an unknown name or the
 * UNSPECIFIED value gives `fallback`. `prefix` is the proto3 JSON prefix of the enum's values;
 * `T` is the union {@link NamesOf} derives from the same enum.
 */
function enumName<T extends string>(
  generated: Readonly<Record<string, string | number>>,
  prefix: string,
  value: string | undefined,
  fallback: T,
): T {
  const member = value?.startsWith(prefix) === true ? value.slice(prefix.length) : "";
  return member !== "UNSPECIFIED" && typeof generated[member] === "number"
    ? (member.toLowerCase() as T)
    : fallback;
}

export function time(v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function outputOf(j: OutputRefJson): Output {
  return { name: j.name ?? "", digest: j.digest ?? "", size: Number(j.size ?? "0"), kind: j.kind ?? "" };
}

export function stageOf(j: StageRunJson): Stage {
  return {
    name: j.name ?? "",
    state: enumName<StageStateName>(StageState, "STAGE_STATE_", j.state, "waiting"),
    cacheKey: j.cacheKey ?? "",
    reason: j.reason ?? "",
    attempt: j.attempt ?? 0,
    startedAt: time(j.startedAt),
    finishedAt: time(j.finishedAt),
    outputs: (j.outputs ?? []).map(outputOf),
    error: j.error ?? "",
    runner: j.runner ?? "",
    agent: j.agent ?? "",
    attempts: (j.attempts ?? []).map((a) => ({
      number: a.number ?? 0,
      agent: a.agent ?? "",
      startedAt: time(a.startedAt),
      finishedAt: time(a.finishedAt),
      outcome: enumName<OutcomeName>(AttemptOutcome, "ATTEMPT_OUTCOME_", a.outcome, "unknown"),
      error: a.error ?? "",
      logPath: a.logPath ?? "",
    })),
    dependsOn: j.dependsOn ?? [],
    expectedMs: j.expectedMs ?? 0,
    ...(j.repro === undefined ? {} : { repro: reproOf(j.repro) }),
  };
}

export function countsOf(j: StageCountsJson | undefined): Counts {
  return {
    total: j?.total ?? 0,
    waiting: j?.waiting ?? 0,
    ready: j?.ready ?? 0,
    running: j?.running ?? 0,
    cached: j?.cached ?? 0,
    done: j?.done ?? 0,
    failed: j?.failed ?? 0,
    skipped: j?.skipped ?? 0,
    cancelled: j?.cancelled ?? 0,
  };
}

export function runOf(j: RunJson): Run {
  return {
    id: j.id ?? "",
    pipeline: j.pipeline ?? "",
    params: j.params ?? {},
    status: enumName<RunStatusName>(RunStatus, "RUN_STATUS_", j.status, "unknown"),
    createdAt: time(j.createdAt),
    finishedAt: time(j.finishedAt),
    stages: (j.stages ?? []).map(stageOf),
    pipelinePath: j.pipelinePath ?? "",
    counts: countsOf(j.stageCounts),
    error: j.error ?? "",
    etaMs: j.etaMs ?? 0,
  };
}

export function agentOf(j: AgentJson): Agent {
  return {
    id: j.id ?? "",
    hostname: j.hostname ?? "",
    labels: j.labels ?? [],
    slots: j.slots ?? 0,
    busySlots: j.busySlots ?? 0,
    state: enumName<AgentStateName>(AgentState, "AGENT_STATE_", j.state, "unknown"),
    currentStages: j.currentStages ?? [],
    lastHeartbeat: time(j.lastHeartbeat),
    diskFreeBytes: Number(j.diskFreeBytes ?? "0"),
    version: j.version ?? "",
  };
}

/** Stage events carry the stage's state; its runner and edges come with the run snapshot. */
export function mergeStage(old: Stage | undefined, next: Stage): Stage {
  if (old === undefined) return next;
  return {
    ...next,
    runner: next.runner || old.runner,
    dependsOn: next.dependsOn.length > 0 ? next.dependsOn : old.dependsOn,
    expectedMs: next.expectedMs || old.expectedMs,
  };
}

export function isTerminal(s: StageStateName): boolean {
  return s === "cached" || s === "done" || s === "failed" || s === "skipped" || s === "cancelled";
}
