/**
 * Stage statistics from recorded history, for `stagefarm stats`: per stage the executions, the
 * p50/p90 of their durations and the cache hit ratio; per pipeline file the expected critical
 * path.
 *
 * Sources: the engine's record (`stats/<pipeline>.json`: hits, executions, failures, recent
 * durations with their keys) and the action-cache manifests (one per execution that produced a
 * cache entry). A manifest counts as an execution of its own only when the record cannot
 * contain it: created before the first recorded run started, and its key not in the record.
 * The hit ratio exists only from the record (a hit leaves no manifest).
 */
import { criticalPath, type GraphStage } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { MAX_DURATIONS, type PipelineStats } from "./stats-record.js";
import { statsStoreFor } from "./stats-store.js";

export interface StageStatsRow {
  stage: string;
  /** Executions known (recorded runs plus older cache entries). */
  executions: number;
  /** Of the newest durations kept (at most {@link MAX_DURATIONS}). */
  p50Ms?: number;
  p90Ms?: number;
  /** From recorded runs only: cache hits, failed executions, and lookups (hits + misses). */
  hits: number;
  failures: number;
  lookups: number;
  /** hits / (hits + executions + failures) of recorded runs; absent without a recorded lookup. */
  hitRatio?: number;
}

export interface PipelineStatsReport {
  pipeline: string;
  /** Runs recorded by the engine (0: only cache entries are known). */
  runs: number;
  stages: StageStatsRow[];
}

export interface ExpectedCriticalPath {
  path: string[];
  /** The path's length with each stage at its p50 (or estimate, or 1 minute without history). */
  p50Ms: number;
  /** The longest path with each stage at its p90 (same fallbacks). */
  p90Ms: number;
  /** Where each stage's expected duration came from. */
  from: Record<string, "history" | "estimate" | "default">;
}

/** Nearest-rank percentile (`q` in (0, 1]); the p50 is the lower middle value, as `median`. */
export function percentile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface Execution {
  key: string;
  ms: number;
  at: string;
}

/** Statistics of every pipeline with history in `store` (or only of `pipeline`), by name. */
export async function loadStatsReports(
  store: ArtifactStore,
  pipeline?: string,
): Promise<PipelineStatsReport[]> {
  const manifests = new Map<string, Map<string, Execution[]>>();
  for await (const m of store.listManifests()) {
    if (pipeline !== undefined && m.pipeline !== pipeline) continue;
    const byStage = manifests.get(m.pipeline) ?? new Map<string, Execution[]>();
    manifests.set(m.pipeline, byStage);
    const list = byStage.get(m.stage) ?? [];
    list.push({ key: m.key, ms: m.durationMs, at: m.createdAt });
    byStage.set(m.stage, list);
  }
  const records = new Map<string, PipelineStats>();
  const stats = statsStoreFor(store);
  if (stats !== undefined) {
    const found = pipeline === undefined ? await stats.list() : [await stats.read(pipeline)];
    for (const r of found) if (r !== undefined) records.set(r.pipeline, r);
  }
  const names = [...new Set([...manifests.keys(), ...records.keys()])].sort();
  return names.map((name) =>
    report(name, records.get(name), manifests.get(name) ?? new Map<string, Execution[]>()),
  );
}

function report(
  pipeline: string,
  record: PipelineStats | undefined,
  manifests: Map<string, Execution[]>,
): PipelineStatsReport {
  const since = record?.since;
  const stages = [...new Set([...Object.keys(record?.stages ?? {}), ...manifests.keys()])].sort();
  const rows = stages.map((stage): StageStatsRow => {
    const rec = record?.stages[stage];
    const recorded: Execution[] = rec?.durations ?? [];
    const keys = new Set(recorded.map((d) => d.key));
    const older = (manifests.get(stage) ?? []).filter(
      (m) => !keys.has(m.key) && (since === undefined || m.at < since),
    );
    const newest = [...older, ...recorded].sort((a, b) => a.at.localeCompare(b.at)).slice(-MAX_DURATIONS);
    const ms = newest.map((d) => d.ms);
    const hits = rec?.hits ?? 0;
    const failures = rec?.failures ?? 0;
    const lookups = hits + (rec?.executions ?? 0) + failures;
    const row: StageStatsRow = {
      stage,
      executions: (rec?.executions ?? 0) + older.length,
      hits,
      failures,
      lookups,
    };
    const p50 = percentile(ms, 0.5);
    const p90 = percentile(ms, 0.9);
    if (p50 !== undefined) row.p50Ms = p50;
    if (p90 !== undefined) row.p90Ms = p90;
    if (lookups > 0) row.hitRatio = hits / lookups;
    return row;
  });
  return { pipeline, runs: record?.runs ?? 0, stages: rows };
}

/**
 * The expected critical path of a pipeline's stages from its statistics: each stage at its p50
 * (and, for the pessimistic total, its p90), else its `estimate:`, else 1 minute.
 */
export function expectedCriticalPath(
  stages: ReadonlyArray<GraphStage & { estimateMs?: number }>,
  report: PipelineStatsReport | undefined,
): ExpectedCriticalPath {
  const rows = new Map((report?.stages ?? []).map((r) => [r.stage, r]));
  const from: ExpectedCriticalPath["from"] = {};
  const estimate = new Map(stages.map((s) => [s.name, s.estimateMs]));
  const pick = (name: string, q: "p50Ms" | "p90Ms"): number => {
    const known = rows.get(name)?.[q];
    const est = estimate.get(name);
    from[name] = known !== undefined ? "history" : est !== undefined ? "estimate" : "default";
    return known ?? est ?? 60_000;
  };
  const p90 = criticalPath(stages, (n) => pick(n, "p90Ms"));
  const p50 = criticalPath(stages, (n) => pick(n, "p50Ms"));
  return { path: p50.path, p50Ms: p50.totalMs, p90Ms: p90.totalMs, from };
}
