/**
 * Prometheus metrics of the coordinator (embedded mode included). `stagefarm_` prefix, base
 * units, `_total` on counters, bounded labels only: pipeline and stage names come from pipeline
 * files and are capped per metric (./metric-labels.ts), pools are capped, agents are bounded by
 * the fleet and their series go when the agent leaves; results and reasons come from fixed
 * sets. Never run ids, digests or attempt ids. Default process metrics are left out (promtool
 * rejects prom-client's gauges ending in `_total`).
 *
 * Counters and histograms are updated as things happen (engine and dispatch callbacks); the
 * gauges of the fleet, the queues and the waiting stages are computed at scrape time from the
 * dispatcher's snapshot and the engine's stage states.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AgentInfo, QueuedReason } from "./dispatch/agent-registry.js";
import type { DispatchMetrics, DispatchSnapshot } from "./dispatch/dispatch-worker.js";
import { REJECT_REASONS, type RejectReason } from "./dispatch/message-guard.js";
import { stageKey } from "./dispatch/dispatch-record.js";
import type { EngineMetrics } from "./engine/run-engine.js";
import { isTerminal, type StageStatus } from "./engine/stage-state.js";
import { BoundedLabel, StageLabels } from "./metric-labels.js";

/** Up to 2 days: a live-bootstrap run takes most of a day, a stage3 hours. */
export const DURATION_BUCKETS_S = [
  1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800,
];

/** Queue waits: from sub-second (an idle fleet) to a day (no agent with the labels). */
export const QUEUE_WAIT_BUCKETS_S = [
  0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400,
];

/** Why a stage is not running: engine reasons, then the dispatcher's (agent-registry.ts). */
export type WaitingReason = "upstream" | "retry_backoff" | "scheduling" | "store_unavailable" | QueuedReason;
export const WAITING_REASONS: readonly WaitingReason[] = [
  "upstream",
  "retry_backoff",
  "scheduling",
  "store_unavailable",
  "no_matching_agent",
  "agents_busy",
  "queued",
];
const AGENT_STATES = ["idle", "busy", "draining", "offline"] as const;

export interface MetricsLimits {
  /** Distinct pipeline label values per metric (default 32). */
  pipelines: number;
  /** Distinct (pipeline, stage) label pairs per metric (default 256). */
  stages: number;
  /** Distinct pool label values per metric (default 64). */
  pools: number;
  /** Agents with series of their own (default 1000). */
  agents: number;
  /** An agent that stopped heartbeating without draining keeps its series this long (default 1 h). */
  agentRetentionMs: number;
}

export const DEFAULT_METRICS_LIMITS: MetricsLimits = {
  pipelines: 32,
  stages: 256,
  pools: 64,
  agents: 1000,
  agentRetentionMs: 3_600_000,
};

/** A stage of an active run, as the engine last reported it. */
interface LiveStage {
  pipeline: string;
  stage: string;
  status: StageStatus;
}

export class CoordinatorMetrics implements EngineMetrics, DispatchMetrics {
  readonly registry = new Registry();
  readonly limits: MetricsLimits;
  private readonly stageDuration: Histogram<"pipeline" | "stage" | "result">;
  private readonly queueWaitHist: Histogram<"pool">;
  private readonly stages: Counter<"pipeline" | "result">;
  private readonly cacheLookups: Counter<"kind" | "result">;
  private readonly reproChecks: Counter<"pipeline" | "stage" | "verdict">;
  private readonly reproLabels: StageLabels;
  readonly runsActive: Gauge;
  /** Runs that finished (the pipeline label is capped like every other). */
  readonly runsTotal: { inc(labels: { pipeline: string; outcome: string }): void };
  private readonly leasesExpired: Counter;
  private readonly staleResults: Counter;
  private readonly rejectedMessages: Counter<"reason">;
  private readonly durationLabels: StageLabels;
  private readonly runningLabels: StageLabels;
  private readonly countLabels: StageLabels;
  private readonly runLabels: StageLabels;
  private readonly waitPools: BoundedLabel;
  private readonly depthPools: BoundedLabel;
  private readonly live = new Map<string, LiveStage>();
  private dispatch: (() => DispatchSnapshot) | undefined;
  private store: { readonly unavailableSince: number | undefined } | undefined;
  private readonly now: () => number;

  constructor(opts: { limits?: Partial<MetricsLimits>; now?: () => number } = {}) {
    this.limits = { ...DEFAULT_METRICS_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
    const { pipelines, stages, pools } = this.limits;
    this.durationLabels = new StageLabels({ pipelines, stages });
    this.runningLabels = new StageLabels({ pipelines, stages });
    this.countLabels = new StageLabels({ pipelines, stages });
    this.runLabels = new StageLabels({ pipelines, stages });
    this.reproLabels = new StageLabels({ pipelines, stages });
    this.waitPools = new BoundedLabel(pools);
    this.depthPools = new BoundedLabel(pools);
    const registers = [this.registry];
    this.stageDuration = new Histogram({
      name: "stagefarm_stage_duration_seconds",
      help: "Wall time of executed stages, by pipeline, stage and result (done, failed).",
      labelNames: ["pipeline", "stage", "result"] as const,
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.queueWaitHist = new Histogram({
      name: "stagefarm_stage_queue_wait_seconds",
      help: "Time a dispatched stage waited in its pool's queue until an agent claimed it, by pool.",
      labelNames: ["pool"] as const,
      buckets: QUEUE_WAIT_BUCKETS_S,
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
      help: "Cache lookups by kind (stage: the action cache; binpkg: binhost packages) and result (hit, miss).",
      labelNames: ["kind", "result"] as const,
      registers,
    });
    this.reproChecks = new Counter({
      name: "stagefarm_repro_checks_total",
      help: "Reproducibility checks (--repro) by pipeline, stage and verdict (reproducible, differs).",
      labelNames: ["pipeline", "stage", "verdict"] as const,
      registers,
    });
    for (const kind of ["stage", "binpkg"])
      for (const result of ["hit", "miss"]) this.cacheLookups.inc({ kind, result }, 0);
    this.runsActive = new Gauge({
      name: "stagefarm_runs_active",
      help: "Runs currently executing.",
      registers,
    });
    const runs = new Counter({
      name: "stagefarm_runs_total",
      help: "Runs that finished, by pipeline and outcome.",
      labelNames: ["pipeline", "outcome"] as const,
      registers,
    });
    this.runsTotal = {
      inc: ({ pipeline, outcome }) => runs.inc({ pipeline: this.runLabels.pipeline(pipeline), outcome }),
    };
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
    this.rejectedMessages = new Counter({
      name: "stagefarm_messages_rejected_total",
      help: "Agent messages rejected, by reason (malformed, no_identity, identity_mismatch: the payload names another agent than the subject, bad_ticket: a claim without the job's ticket).",
      labelNames: ["reason"] as const,
      registers,
    });
    for (const reason of REJECT_REASONS) this.rejectedMessages.inc({ reason }, 0);
    this.scrapeGauges(registers);
    this.storeGauges(registers);
  }

  /** Whether the artifact store answers, as the coordinator's outage tracking sees it. */
  private storeGauges(registers: Registry[]): void {
    const available: Gauge = new Gauge({
      name: "stagefarm_store_available",
      help: "1 while the artifact store answers, 0 during a store outage (no new stage is dispatched then).",
      registers,
      collect: () => {
        available.set(this.store?.unavailableSince === undefined ? 1 : 0);
      },
    });
    const outage: Gauge = new Gauge({
      name: "stagefarm_store_outage_seconds",
      help: "How long the current store outage has lasted (0 while the store answers).",
      registers,
      collect: () => {
        const since = this.store?.unavailableSince;
        outage.set(since === undefined ? 0 : Math.max(0, (this.now() - since) / 1000));
      },
    });
  }

  /** Hands the metrics the store's outage state (read at scrape time). */
  observeStore(store: { readonly unavailableSince: number | undefined }): void {
    this.store = store;
  }

  /** The gauges computed at scrape time from the engine's stages and the dispatcher's snapshot. */
  private scrapeGauges(registers: Registry[]): void {
    // One snapshot serves every gauge of a scrape (they are collected one after another).
    let cached: { at: number; snap: DispatchSnapshot | undefined } | undefined;
    const snapshot = (): DispatchSnapshot | undefined => {
      const at = performance.now();
      if (cached === undefined || at - cached.at > 100) cached = { at, snap: this.dispatch?.() };
      return cached.snap;
    };
    const waiting = new Gauge({
      name: "stagefarm_stages_waiting",
      help:
        "Stages of active runs that are not running, by reason: upstream (inputs not ready), retry_backoff, " +
        "scheduling (the run's dispatch limit), store_unavailable (held during a store outage), " +
        "no_matching_agent, agents_busy, queued (a matching agent is free).",
      labelNames: ["reason"] as const,
      registers,
      collect: () => {
        const counts = new Map<WaitingReason, number>(WAITING_REASONS.map((r) => [r, 0]));
        const snap = snapshot();
        for (const [key, s] of this.live) {
          const reason = this.engineReason(s.status);
          if (reason !== undefined) counts.set(reason, (counts.get(reason) ?? 0) + 1);
          else if (s.status.t === "running") {
            const q = snap?.queued.get(key);
            if (q !== undefined) counts.set(q.reason, (counts.get(q.reason) ?? 0) + 1);
          }
        }
        for (const [reason, n] of counts) waiting.set({ reason }, n);
      },
    });
    const depth = new Gauge({
      name: "stagefarm_queue_depth",
      help: "Stages published to a pool's queue and not claimed by an agent yet, by pool.",
      labelNames: ["pool"] as const,
      registers,
      collect: () => {
        depth.reset();
        const byPool = new Map<string, number>();
        for (const q of snapshot()?.queued.values() ?? []) {
          const pool = this.depthPools.value(q.pool);
          byPool.set(pool, (byPool.get(pool) ?? 0) + 1);
        }
        for (const [pool, n] of byPool) depth.set({ pool }, n);
      },
    });
    const running = new Gauge({
      name: "stagefarm_stage_running_seconds",
      help: "How long the longest-running execution of each running stage has been running (since its claim).",
      labelNames: ["pipeline", "stage"] as const,
      registers,
      collect: () => {
        running.reset();
        const snap = snapshot();
        const now = this.now();
        const longest = new Map<string, { labels: { pipeline: string; stage: string }; s: number }>();
        for (const [key, s] of this.live) {
          if (s.status.t !== "running" || snap?.queued.has(key) === true) continue;
          const since = snap?.claimed.get(key) ?? s.status.startedAt;
          const labels = this.runningLabels.of(s.pipeline, s.stage);
          const id = `${labels.pipeline}\u0000${labels.stage}`;
          const secs = Math.max(0, (now - since) / 1000);
          if ((longest.get(id)?.s ?? -1) < secs) longest.set(id, { labels, s: secs });
        }
        for (const { labels, s } of longest.values()) running.set(labels, s);
      },
    });
    this.fleetGauges(registers, snapshot);
  }

  private fleetGauges(registers: Registry[], snapshot: () => DispatchSnapshot | undefined): void {
    const agents = (): AgentInfo[] => this.presentAgents(snapshot()?.agents ?? []);
    const byState = new Gauge({
      name: "stagefarm_agents",
      help: "Agents known to the coordinator, by state (idle, busy, draining, offline: no heartbeat within the lease TTL).",
      labelNames: ["state"] as const,
      registers,
      collect: () => {
        const counts = new Map<string, number>(AGENT_STATES.map((s) => [s, 0]));
        for (const a of agents()) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
        for (const [state, n] of counts) byState.set({ state }, n);
      },
    });
    const perAgent = (name: string, help: string, value: (a: AgentInfo) => number): void => {
      const g: Gauge<"agent"> = new Gauge({
        name,
        help,
        labelNames: ["agent"] as const,
        registers,
        collect: () => {
          g.reset();
          for (const a of agents()) g.set({ agent: a.hb.agentId }, value(a));
        },
      });
    };
    const online = (a: AgentInfo): boolean => a.state !== "offline";
    perAgent("stagefarm_agent_slots", "Stage slots of each online agent.", (a) =>
      online(a) ? a.hb.slots : 0,
    );
    perAgent("stagefarm_agent_busy_slots", "Slots of each online agent running a stage.", (a) =>
      online(a) ? a.hb.running.length : 0,
    );
    perAgent(
      "stagefarm_agent_last_heartbeat_timestamp_seconds",
      "When the coordinator last received each agent's heartbeat (Unix time).",
      (a) => a.lastSeen / 1000,
    );
    perAgent(
      "stagefarm_agent_disk_free_bytes",
      "Free space in each agent's work directory, from its last heartbeat.",
      (a) => a.hb.diskFreeBytes,
    );
  }

  /**
   * The agents that have series: every agent but those that left (stopped heartbeating after
   * draining, or silent longer than the retention), at most `limits.agents` of them.
   */
  private presentAgents(all: AgentInfo[]): AgentInfo[] {
    const now = this.now();
    return all
      .filter(
        (a) => a.state !== "offline" || (!a.hb.draining && now - a.lastSeen <= this.limits.agentRetentionMs),
      )
      .slice(0, this.limits.agents);
  }

  private engineReason(s: StageStatus): WaitingReason | undefined {
    if ((s.t === "waiting" || s.t === "ready") && this.store?.unavailableSince !== undefined)
      return "store_unavailable";
    if (s.t === "waiting") return "upstream";
    if (s.t === "ready")
      return s.retryAt !== undefined && s.retryAt > this.now() ? "retry_backoff" : "scheduling";
    return undefined;
  }

  observeDispatch(source: () => DispatchSnapshot): void {
    this.dispatch = source;
  }

  stageState(runId: string, pipeline: string, stage: string, status: StageStatus): void {
    const key = stageKey(runId, stage);
    if (isTerminal(status)) this.live.delete(key);
    else this.live.set(key, { pipeline, stage, status });
  }

  leaseExpired(): void {
    this.leasesExpired.inc();
  }

  staleResult(): void {
    this.staleResults.inc();
  }

  messageRejected(reason: RejectReason): void {
    this.rejectedMessages.inc({ reason });
  }

  queueWait(pool: string, seconds: number): void {
    this.queueWaitHist.observe({ pool: this.waitPools.value(pool) }, seconds);
  }

  stageFinished(pipeline: string, stage: string, result: StageStatus["t"], durationMs: number): void {
    this.stages.inc({ pipeline: this.countLabels.pipeline(pipeline), result });
    if (result === "done" || result === "failed")
      this.stageDuration.observe({ ...this.durationLabels.of(pipeline, stage), result }, durationMs / 1000);
  }

  reproCheck(pipeline: string, stage: string, verdict: "reproducible" | "differs"): void {
    this.reproChecks.inc({ ...this.reproLabels.of(pipeline, stage), verdict });
  }

  cacheLookup(hit: boolean): void {
    this.cacheLookups.inc({ kind: "stage", result: hit ? "hit" : "miss" });
  }

  /** A binhost package request: served (hit) or not there (miss). */
  binpkgLookup(hit: boolean): void {
    this.cacheLookups.inc({ kind: "binpkg", result: hit ? "hit" : "miss" });
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
