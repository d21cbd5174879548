/**
 * The embedded farm: the distributed coordinator and one local agent in one process, over the
 * in-process ports (MemoryKvStore, MemoryJobQueue, MemoryEventLog, MemoryBus) and the
 * filesystem artifact store. No servers — and the same code path as a farm: the run engine,
 * dispatch with claims and leases, the agent service and the executor are the classes the
 * distributed processes run. This file is the composition root that may import both
 * coordinator/ and agent/ (which never import each other).
 */
import { availableParallelism, hostname } from "node:os";
import {
  AgentService,
  defaultRunners,
  diskFreeBytes,
  meteredStore,
  StageExecutor,
  type AgentMetrics,
  type Runner,
} from "../agent/index.js";
import {
  Coordinator,
  countStages,
  newRunId,
  type CoordinatorMetrics,
  type RunEvent,
  type RunEventListener,
  type ReproDoc,
  type ReproSubmission,
  type RunResult,
  type StageStatus,
} from "../coordinator/index.js";
import { MemoryBus } from "../shared/bus/index.js";
import { StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { resolvePipeline, type PipelineSpec } from "../shared/pipeline/index.js";
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore, type KvStore } from "../shared/ports/index.js";
import { subjects } from "../shared/protocol/subjects.js";
import { FsArtifactStore } from "../shared/store/index.js";
import type { LocalConfig } from "./config.js";
import { EmbeddedBinhost } from "./embedded-binhost.js";

export interface EmbeddedRunOptions {
  params: Record<string, string>;
  signal: AbortSignal;
  onEvent?: RunEventListener;
  runId?: string;
  /** `--repro`: stages built a second time (in another workspace) and compared. */
  repro?: ReproSubmission;
}

export interface EmbeddedFarmOptions {
  /** Stages the local agent runs at once. */
  slots: number;
  /** Labels of the local agent; by default every label the pipelines run here require. */
  labels?: string[];
  metrics?: CoordinatorMetrics;
  /** The local agents' metrics (one set for all of them: from outside, the embedded farm is
   *  one agent), and their transfers metered. */
  agentMetrics?: AgentMetrics;
  /** The local agent's runners (default: every kind, see agent/runners/registry.ts, the emerge
   *  runner with a client of this farm's binhost: ./embedded-binhost.ts). */
  runners?: Runner[];
  /** The coordinator's state (run documents, dispatch records); default in memory. `stagefarm
   *  up` passes a file KV so its runs outlive the process. Closed with the farm. */
  kv?: KvStore;
  /** Keep a failed stage's workspace for inspection (agent/executor.ts `keepFailedWorkspace`). */
  keepFailedWorkspaces?: boolean;
}

/** In one process an agent never stalls: leases only matter if a stage wedges the event loop. */
const LOCAL_LEASE_MS = 10 * 60_000;
const LOCAL_HEARTBEAT_MS = 5_000;

export class EmbeddedFarm implements AsyncDisposable {
  private readonly kv: KvStore;
  private readonly queue = new MemoryJobQueue({ ackWaitMs: LOCAL_LEASE_MS });
  private readonly events = new MemoryEventLog({ ackWaitMs: LOCAL_LEASE_MS });
  /** The bus, subjects and coordinator are public for the HTTP dashboard (`stagefarm up`). */
  readonly bus = new MemoryBus();
  readonly subjects = subjects("local");
  readonly coordinator: Coordinator;
  /** The farm binhost: its writer (given to the coordinator) and the local agents' client. */
  readonly binhost: EmbeddedBinhost;
  private readonly agents = new Map<string, AgentService>();
  private readonly offRunStarted: () => void;
  /** Runs started by {@link run} while it waits for them: their agent is set up already. */
  private readonly ownRuns = new Set<string>();
  private closed: Promise<void> | undefined;

  private constructor(
    readonly store: FsArtifactStore,
    private readonly cfg: LocalConfig,
    private readonly logger: Logger,
    private readonly opts: EmbeddedFarmOptions,
  ) {
    this.kv = opts.kv ?? new MemoryKvStore();
    this.binhost = new EmbeddedBinhost(store, logger);
    this.coordinator = new Coordinator({
      kv: this.kv,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      store,
      subjects: this.subjects,
      logger,
      ...(opts.metrics === undefined ? {} : { metrics: opts.metrics }),
      leaseMs: LOCAL_LEASE_MS,
      leaseCheckMs: 1000,
      agentOfflineMs: LOCAL_LEASE_MS,
      // The local agent's slots: ready stages wait in the engine, which starts the best first
      // as a slot frees (shared/schedule/ready-order.ts), not in a FIFO queue in front of the agent.
      maxDispatchPerRun: opts.slots,
      stageJobs: Math.max(1, Math.floor(availableParallelism() / opts.slots)),
      binhost: this.binhost.service,
      // One local agent: the second build of a `--repro` stage runs in a second workspace.
      reproOnSameAgent: true,
    });
    // A run the coordinator starts without `run()` (submitted over gRPC, retried from the API or
    // the dashboard, also after a restart) gets a local agent for its labels too.
    this.offRunStarted = this.coordinator.onEvent((e) => {
      if (e.t === "run-started" && !this.ownRuns.has(e.runId)) void this.agentsForRun(e.runId);
    });
  }

  /** Starts the local agents a stored run needs (its pipeline text parsed again, off the loop). */
  private async agentsForRun(runId: string): Promise<void> {
    try {
      const doc = await this.coordinator.getRun(runId);
      if (this.opts.labels !== undefined) return this.agentFor(this.opts.labels);
      const spec = await this.coordinator.parseSubmission(doc.yaml, doc.path);
      this.agentFor([...new Set(resolvePipeline(spec, doc.params).flatMap((s) => s.requires))]);
    } catch (err: unknown) {
      if (this.closed === undefined)
        this.logger.error({ run: runId, err: StagefarmError.from(err) }, "no local agent for the run");
    }
  }

  static async open(cfg: LocalConfig, logger: Logger, opts: EmbeddedFarmOptions): Promise<EmbeddedFarm> {
    const store = await FsArtifactStore.open(cfg.storeDir);
    const farm = new EmbeddedFarm(store, cfg, logger, opts);
    await farm.coordinator.start();
    return farm;
  }

  /** The local agent for a set of labels (one per distinct set the pipelines need). */
  private agentFor(labels: string[]): void {
    if (this.closed !== undefined) return;
    const key = [...new Set(labels)].sort().join(",");
    if (this.agents.has(key)) return;
    const id = `local-${this.agents.size + 1}`;
    const agent = new AgentService({
      agentId: id,
      hostname: hostname(),
      labels: key === "" ? [] : key.split(","),
      slots: this.opts.slots,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      subjects: this.subjects,
      executor: new StageExecutor({
        store:
          this.opts.agentMetrics === undefined
            ? this.store
            : meteredStore(this.store, this.opts.agentMetrics),
        workRoot: this.cfg.workDir,
        logger: this.logger.child({ component: "executor" }),
        keepFailedWorkspace: this.opts.keepFailedWorkspaces === true,
        unpackLimits: { maxUnpackedBytes: this.cfg.maxUnpackedBytes },
        ...(this.opts.agentMetrics === undefined ? {} : { metrics: this.opts.agentMetrics }),
        runners: this.opts.runners ?? defaultRunners({ binhost: this.binhost.client(id) }),
      }),
      logger: this.logger,
      heartbeatMs: LOCAL_HEARTBEAT_MS,
      claimTimeoutMs: 30_000,
      version: "embedded",
      diskFreeBytes: () => diskFreeBytes(this.cfg.workDir),
      ...(this.opts.agentMetrics === undefined ? {} : { metrics: this.opts.agentMetrics }),
    });
    agent.start();
    this.agents.set(key, agent);
  }

  /** Runs a pipeline to its end; resolves with the outcome (cancelled when `signal` aborts). */
  async run(spec: PipelineSpec, opts: EmbeddedRunOptions): Promise<RunResult> {
    const stages = resolvePipeline(spec, opts.params);
    this.agentFor(this.opts.labels ?? [...new Set(stages.flatMap((s) => s.requires))]);
    const runId = opts.runId ?? newRunId();
    this.ownRuns.add(runId);
    const states = new Map<string, StageStatus>();
    const repro = new Map<string, ReproDoc>();
    let finished: ((e: Extract<RunEvent, { t: "run-finished" }>) => void) | undefined;
    const done = new Promise<Extract<RunEvent, { t: "run-finished" }>>((r) => (finished = r));
    const emit = (e: RunEvent): void => {
      if (e.runId !== runId) return;
      if (e.t === "stage") states.set(e.stage, e.status);
      if (e.t === "repro") repro.set(e.stage, e.repro);
      // The local agent's slots are what runs at once (the engine dispatches as many).
      opts.onEvent?.(e.t === "run-started" ? { ...e, jobs: this.opts.slots } : e);
      if (e.t === "run-finished") finished?.(e);
    };
    const off = this.coordinator.onEvent(emit);
    const dec = new TextDecoder();
    const logs = this.bus.subscribe(this.subjects.logs(runId, "*"), (data, subject) =>
      emit({
        t: "log",
        runId,
        stage: subject.slice(subject.lastIndexOf(".") + 1),
        attempt: 0,
        chunk: dec.decode(data),
      }),
    );
    const cancel = (): void => {
      this.coordinator
        .cancel(runId)
        .catch((err: unknown) =>
          this.logger.error({ run: runId, err: StagefarmError.from(err) }, "cancelling the run failed"),
        );
    };
    try {
      opts.signal.throwIfAborted();
      // The spec is parsed already (by the caller, or off the event loop for a submission).
      await this.coordinator.submit({
        yaml: spec.source,
        path: spec.file,
        params: opts.params,
        runId,
        spec,
        ...(opts.repro === undefined ? {} : { repro: opts.repro }),
      });
      opts.signal.addEventListener("abort", cancel, { once: true });
      const end = await done;
      await this.coordinator.settled(runId);
      return {
        runId,
        pipeline: spec.name,
        outcome: end.outcome,
        counts: countStages(states.values()),
        states,
        durationMs: end.durationMs,
        repro,
        ...(end.reproFailure === undefined ? {} : { reproFailure: end.reproFailure }),
      };
    } finally {
      this.ownRuns.delete(runId);
      opts.signal.removeEventListener("abort", cancel);
      off();
      logs.unsubscribe();
    }
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.offRunStarted();
      await Promise.allSettled([...this.agents.values()].map((a) => a.close()));
      await this.coordinator.close();
      await this.binhost.close();
      await Promise.allSettled([this.queue.close(), this.events.close(), this.kv.close(), this.bus.close()]);
      await this.store.close();
    })();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
