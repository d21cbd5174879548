/**
 * Prometheus metrics of an agent process, served on its own `/metrics` (`stagefarm agent
 * --http`). `stagefarm_` prefix, base units, `_total` on counters, labels from fixed sets only
 * (the agent's own id and version on one info series). Default process metrics are left out
 * (promtool rejects prom-client's gauges ending in `_total`).
 *
 * The coordinator exports the fleet's view of each agent (slots, last heartbeat, disk free);
 * these are what only the agent sees: its claims, the stages it ran, the bytes it moved.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SweepResult } from "./stale-work.js";
import type { ExecutorMetrics } from "./executor.js";
import type { AgentServiceMetrics, ClaimResult, StageEnd } from "./service/agent-service.js";

/** Artifact transfers: from milliseconds (a small file) to hours (a release's ISOs over a slow link). */
export const TRANSFER_BUCKETS_S = [
  0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400,
];

export type TransferDirection = "download" | "upload";

/** What the metered store (./metered-store.ts) reports. */
export interface TransferMetrics {
  transfer(direction: TransferDirection, bytes: number, seconds: number): void;
}

export interface AgentMetricsOptions {
  agentId: string;
  version: string;
  slots: number;
  /** Free bytes in the work directory, read at scrape time. */
  diskFreeBytes: () => Promise<number>;
  /** Register into this registry (the embedded farm's, beside the coordinator's metrics). */
  registry?: Registry;
}

export class AgentMetrics implements AgentServiceMetrics, TransferMetrics, ExecutorMetrics {
  readonly registry: Registry;
  private readonly claims: Counter<"result">;
  private readonly stages: Counter<"result">;
  private readonly heartbeats: Counter;
  private readonly lastHeartbeat: Gauge;
  private readonly running: Gauge;
  private readonly draining: Gauge;
  private readonly bytes: Counter<"direction">;
  private readonly transferSeconds: Histogram<"direction">;
  private readonly cleanupFailures: Counter;
  private readonly staleSwept: Counter<"kind">;

  constructor(opts: AgentMetricsOptions) {
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    const info = new Gauge({
      name: "stagefarm_agent_info",
      help: "This agent's id and version (always 1).",
      labelNames: ["agent", "version"] as const,
      registers,
    });
    info.set({ agent: opts.agentId, version: opts.version }, 1);
    new Gauge({
      name: "stagefarm_agent_capacity_slots",
      help: "Stages this agent runs at once.",
      registers,
    }).set(opts.slots);
    this.running = new Gauge({
      name: "stagefarm_agent_running_stages",
      help: "Stages this agent is running (claimed and not reported yet).",
      registers,
    });
    this.draining = new Gauge({
      name: "stagefarm_agent_draining",
      help: "1 while the agent drains (takes no new work), else 0.",
      registers,
    });
    this.claims = new Counter({
      name: "stagefarm_agent_claims_total",
      help: "Claims this agent asked the coordinator for, by result (granted, refused, error).",
      labelNames: ["result"] as const,
      registers,
    });
    this.stages = new Counter({
      name: "stagefarm_agent_stages_total",
      help: "Stages this agent ran, by result (succeeded, failed, cancelled, released).",
      labelNames: ["result"] as const,
      registers,
    });
    this.heartbeats = new Counter({
      name: "stagefarm_agent_heartbeats_total",
      help: "Heartbeats this agent sent.",
      registers,
    });
    this.lastHeartbeat = new Gauge({
      name: "stagefarm_agent_heartbeat_sent_timestamp_seconds",
      help: "When this agent last sent a heartbeat (Unix time).",
      registers,
    });
    const disk: Gauge = new Gauge({
      name: "stagefarm_agent_work_dir_free_bytes",
      help: "Free space in this agent's work directory.",
      registers,
      collect: async (): Promise<void> => disk.set(await opts.diskFreeBytes()),
    });
    this.bytes = new Counter({
      name: "stagefarm_artifact_bytes_total",
      help: "Artifact bytes this agent moved to or from the store, by direction (download, upload).",
      labelNames: ["direction"] as const,
      registers,
    });
    this.transferSeconds = new Histogram({
      name: "stagefarm_artifact_transfer_duration_seconds",
      help: "Duration of artifact transfers to or from the store, by direction (download, upload).",
      labelNames: ["direction"] as const,
      buckets: TRANSFER_BUCKETS_S,
      registers,
    });
    this.cleanupFailures = new Counter({
      name: "stagefarm_agent_workspace_cleanup_failures_total",
      help: "Stage workspaces this agent could not remove (each also logged at error level).",
      registers,
    });
    this.staleSwept = new Counter({
      name: "stagefarm_agent_stale_swept_total",
      help: "What a previous agent on the same work directory left and this one cleaned at start: process groups killed, workspaces removed.",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of ["process_group", "workspace"]) this.staleSwept.inc({ kind }, 0);
    for (const result of ["granted", "refused", "error"] satisfies ClaimResult[])
      this.claims.inc({ result }, 0);
    for (const result of ["succeeded", "failed", "cancelled", "released"] satisfies StageEnd[])
      this.stages.inc({ result }, 0);
    for (const direction of ["download", "upload"] satisfies TransferDirection[])
      this.bytes.inc({ direction }, 0);
  }

  claim(result: ClaimResult): void {
    this.claims.inc({ result });
  }

  stageEnded(result: StageEnd): void {
    this.stages.inc({ result });
  }

  runningStages(n: number, draining: boolean): void {
    this.running.set(n);
    this.draining.set(draining ? 1 : 0);
  }

  heartbeatSent(atMs: number): void {
    this.heartbeats.inc();
    this.lastHeartbeat.set(atMs / 1000);
  }

  transfer(direction: TransferDirection, bytes: number, seconds: number): void {
    this.bytes.inc({ direction }, bytes);
    this.transferSeconds.observe({ direction }, seconds);
  }

  workspaceCleanupFailed(): void {
    this.cleanupFailures.inc();
  }

  staleWorkSwept(r: SweepResult): void {
    this.staleSwept.inc({ kind: "process_group" }, r.processGroups);
    this.staleSwept.inc({ kind: "workspace" }, r.workspaces);
    for (let i = 0; i < r.failed; i++) this.cleanupFailures.inc();
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
