/**
 * A distributed farm inside one process: the Coordinator and N AgentServices over the
 * in-process ports (MemoryKvStore, MemoryJobQueue, MemoryEventLog, MemoryBus), with real
 * StageExecutors and one real filesystem store. For integration tests of the dispatch and
 * lease logic without servers; the same classes run over NATS and S3 in the e2e tests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentService, StageExecutor } from "../../agent/index.js";
import { Coordinator } from "../../coordinator/index.js";
import { type SubmissionLimits } from "../../coordinator/testing.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { createLogger, silentLogger } from "../../shared/log.js";
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore, type KvStore } from "../../shared/ports/index.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { FsArtifactStore } from "../../shared/store/index.js";

export interface MemoryFarmOptions {
  leaseMs?: number;
  heartbeatMs?: number;
  ackWaitMs?: number;
  /** Bounds of parsing submissions (default: the coordinator's). */
  submissionLimits?: Partial<SubmissionLimits>;
  /** The coordinator's state (default: a MemoryKvStore); the farm closes it. */
  kv?: KvStore;
  /** Wait before a failed stage's next attempt (default: the engine's). */
  retryBackoffMs?: (failedAttempt: number) => number;
}

export class MemoryFarm implements AsyncDisposable {
  readonly kv: KvStore;
  readonly queue: MemoryJobQueue;
  readonly events = new MemoryEventLog();
  readonly bus = new MemoryBus();
  readonly subjects = subjects("sf");
  readonly agents = new Map<string, AgentService>();
  coordinator: Coordinator;

  private constructor(
    readonly dir: string,
    readonly store: FsArtifactStore,
    private readonly opts: Required<Omit<MemoryFarmOptions, "submissionLimits" | "kv" | "retryBackoffMs">> &
      Pick<MemoryFarmOptions, "submissionLimits" | "retryBackoffMs">,
    kv: KvStore,
  ) {
    this.kv = kv;
    this.queue = new MemoryJobQueue({ ackWaitMs: opts.ackWaitMs });
    this.coordinator = this.newCoordinator();
  }

  static async create(opts: MemoryFarmOptions = {}): Promise<MemoryFarm> {
    const dir = await mkdtemp(join(tmpdir(), "sf-memfarm-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    const farm = new MemoryFarm(
      dir,
      store,
      {
        leaseMs: opts.leaseMs ?? 2000,
        heartbeatMs: opts.heartbeatMs ?? 200,
        ackWaitMs: opts.ackWaitMs ?? 2000,
        ...(opts.submissionLimits === undefined ? {} : { submissionLimits: opts.submissionLimits }),
        ...(opts.retryBackoffMs === undefined ? {} : { retryBackoffMs: opts.retryBackoffMs }),
      },
      opts.kv ?? new MemoryKvStore(),
    );
    await farm.coordinator.start();
    return farm;
  }

  newCoordinator(): Coordinator {
    return new Coordinator({
      kv: this.kv,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      store: this.store,
      subjects: this.subjects,
      logger: process.env["SF_TEST_LOG"] === "1" ? createLogger({ level: "debug" }) : silentLogger(),
      leaseMs: this.opts.leaseMs,
      leaseCheckMs: 100,
      agentOfflineMs: this.opts.heartbeatMs * 5,
      maxDispatchPerRun: 100,
      stageJobs: 1,
      ...(this.opts.submissionLimits === undefined ? {} : { submissionLimits: this.opts.submissionLimits }),
      ...(this.opts.retryBackoffMs === undefined ? {} : { retryBackoffMs: this.opts.retryBackoffMs }),
    });
  }

  /** Replaces the coordinator by a fresh one over the same KV and streams (a restart). */
  async restartCoordinator(): Promise<void> {
    await this.coordinator.close();
    this.coordinator = this.newCoordinator();
    await this.coordinator.start();
  }

  addAgent(id: string, labels: string[], slots = 1, executor?: StageExecutor): AgentService {
    const agent = new AgentService({
      agentId: id,
      hostname: "localhost",
      labels,
      slots,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      subjects: this.subjects,
      executor:
        executor ??
        new StageExecutor({
          store: this.store,
          workRoot: join(this.dir, "work", id),
          logger: silentLogger(),
        }),
      logger: silentLogger(),
      heartbeatMs: this.opts.heartbeatMs,
      claimTimeoutMs: 1000,
      version: "test",
      diskFreeBytes: () => Promise.resolve(1 << 30),
    });
    agent.start();
    this.agents.set(id, agent);
    return agent;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled([...this.agents.values()].map((a) => a.close()));
    await this.coordinator.close();
    await this.queue.close();
    await this.events.close();
    await this.kv.close();
    await this.bus.close();
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
