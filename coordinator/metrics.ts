/**
 * Prometheus metrics of the coordinator (embedded mode included). `stagefarm_` prefix, base
 * units, bounded labels only: pipeline and stage names come from pipeline files, result from a
 * fixed set; never run ids, digests or attempt ids. Default process metrics are left out
 * (promtool rejects prom-client's gauges ending in `_total`).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DispatchMetrics } from "./dispatch/dispatch-worker.js";
import type { EngineMetrics } from "./engine/run-engine.js";
import type { StageStatus } from "./engine/stage-state.js";

/** Up to 2 days: a live-bootstrap run takes most of a day, a stage3 hours. */
export const DURATION_BUCKETS_S = [
  1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800,
];

export class CoordinatorMetrics implements EngineMetrics, DispatchMetrics {
  readonly registry = new Registry();
  private readonly stageDuration: Histogram<"pipeline" | "stage" | "result">;
  private readonly stages: Counter<"pipeline" | "result">;
  private readonly cacheLookups: Counter<"kind" | "result">;
  readonly runsActive: Gauge;
  readonly runsTotal: Counter<"pipeline" | "outcome">;
  private readonly leasesExpired: Counter;
  private readonly staleResults: Counter;

  constructor() {
    const registers = [this.registry];
    this.stageDuration = new Histogram({
      name: "stagefarm_stage_duration_seconds",
      help: "Wall time of executed stages, by pipeline, stage and result.",
      labelNames: ["pipeline", "stage", "result"] as const,
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.stages = new Counter({
      name: "stagefarm_stages_total",
      help: "Stages that reached a final state, by result (done, cached, failed, skipped, cancelled).",
      labelNames: ["pipeline", "result"] as const,
      registers,
    });
    this.cacheLookups = new Counter({
      name: "stagefarm_cache_lookups_total",
      help: "Action-cache lookups by kind (stage, binpkg) and result (hit, miss).",
      labelNames: ["kind", "result"] as const,
      registers,
    });
    this.runsActive = new Gauge({
      name: "stagefarm_runs_active",
      help: "Runs currently executing.",
      registers,
    });
    this.runsTotal = new Counter({
      name: "stagefarm_runs_total",
      help: "Runs that finished, by pipeline and outcome.",
      labelNames: ["pipeline", "outcome"] as const,
      registers,
    });
    this.leasesExpired = new Counter({
      name: "stagefarm_leases_expired_total",
      help: "Stage leases that expired (the agent stopped heartbeating); each made a new dispatch.",
      registers,
    });
    this.staleResults = new Counter({
      name: "stagefarm_stale_results_total",
      help: "Results rejected because the reporting agent did not own the current dispatch.",
      registers,
    });
  }

  leaseExpired(): void {
    this.leasesExpired.inc();
  }

  staleResult(): void {
    this.staleResults.inc();
  }

  stageFinished(pipeline: string, stage: string, result: StageStatus["t"], durationMs: number): void {
    this.stages.inc({ pipeline, result });
    if (result === "done" || result === "failed")
      this.stageDuration.observe({ pipeline, stage, result }, durationMs / 1000);
  }

  cacheLookup(hit: boolean): void {
    this.cacheLookups.inc({ kind: "stage", result: hit ? "hit" : "miss" });
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
