/**
 * An in-process farm for the metrics tests: a Coordinator and AgentServices with real executors
 * over the memory ports and a filesystem store, each with its metrics; running a pipeline to its
 * end, scraping the coordinator's exposition; and queries on parsed samples (the sum of a
 * series, the series of a name), `promtool check metrics`, and an HTTP server as AsyncDisposable.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AgentService,
  createAgentMetrics,
  meteredStore,
  StageExecutor,
  type AgentMetrics,
} from "../../agent/index.js";
import { Coordinator, createMetrics, type CoordinatorMetrics, type RunDoc } from "../../coordinator/index.js";
import { type MetricsLimits } from "../../coordinator/testing.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { silentLogger } from "../../shared/log.js";
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore } from "../../shared/ports/index.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { parseExposition, promtool, type ExpositionSample } from "./prometheus.js";

/** Coordinator + agents over memory ports, each with its metrics. */
export class MetricsFarm implements AsyncDisposable {
  readonly kv = new MemoryKvStore();
  readonly queue = new MemoryJobQueue({ ackWaitMs: 2000 });
  readonly events = new MemoryEventLog();
  readonly bus = new MemoryBus();
  readonly subjects = subjects("sf");
  readonly agents = new Map<string, { service: AgentService; metrics: AgentMetrics }>();
  readonly coordinator: Coordinator;

  private constructor(
    readonly dir: string,
    readonly store: FsArtifactStore,
    readonly metrics: CoordinatorMetrics,
    offlineMs: number,
  ) {
    this.coordinator = new Coordinator({
      kv: this.kv,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      store,
      subjects: this.subjects,
      logger: silentLogger(),
      metrics,
      leaseMs: 5000,
      leaseCheckMs: 100,
      agentOfflineMs: offlineMs,
      maxDispatchPerRun: 100,
      stageJobs: 1,
    });
  }

  static async create(
    opts: { limits?: Partial<MetricsLimits>; offlineMs?: number } = {},
  ): Promise<MetricsFarm> {
    const dir = await mkdtemp(join(tmpdir(), "sf-metrics-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    const metrics = await createMetrics(opts.limits === undefined ? {} : { limits: opts.limits });
    const farm = new MetricsFarm(dir, store, metrics, opts.offlineMs ?? 1000);
    await farm.coordinator.start();
    return farm;
  }

  async addAgent(
    id: string,
    labels: string[],
    slots = 1,
  ): Promise<{ service: AgentService; metrics: AgentMetrics }> {
    const metrics = await createAgentMetrics({
      agentId: id,
      version: "test",
      slots,
      diskFreeBytes: () => Promise.resolve(5 << 30),
    });
    const service = new AgentService({
      agentId: id,
      hostname: "localhost",
      labels,
      slots,
      queue: this.queue,
      events: this.events,
      bus: this.bus,
      subjects: this.subjects,
      executor: new StageExecutor({
        store: meteredStore(this.store, metrics),
        workRoot: join(this.dir, "work", id),
        logger: silentLogger(),
      }),
      logger: silentLogger(),
      heartbeatMs: 100,
      claimTimeoutMs: 2000,
      version: "test",
      diskFreeBytes: () => Promise.resolve(5 << 30),
      metrics,
    });
    service.start();
    const a = { service, metrics };
    this.agents.set(id, a);
    return a;
  }

  async run(name: string, yaml: string, dir = this.dir): Promise<RunDoc> {
    const path = join(dir, `${name}.yaml`);
    await writeFile(path, yaml);
    const doc = await this.coordinator.submit({ yaml, path, params: {} });
    await this.coordinator.settled(doc.id);
    return this.coordinator.getRun(doc.id);
  }

  async scrape(): Promise<{ text: string; samples: ExpositionSample[] }> {
    const { body } = await this.metrics.exposition();
    return { text: body, samples: parseExposition(body) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled([...this.agents.values()].map((a) => a.service.close()));
    await this.coordinator.close();
    await Promise.allSettled([this.queue.close(), this.events.close(), this.kv.close(), this.bus.close()]);
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The sum of the samples of `name` whose labels include `labels`. */
export function value(
  samples: ExpositionSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** The samples of `name`. */
export function series(samples: ExpositionSample[], name: string): ExpositionSample[] {
  return samples.filter((s) => s.name === name);
}

/** Fails unless `promtool check metrics` accepts `text`. */
export async function checkMetrics(what: string, text: string): Promise<void> {
  const r = await promtool(["check", "metrics"], text);
  assert.equal(r.code, 0, `promtool check metrics on ${what}:\n${r.stdout}${r.stderr}`);
}

/** `h` (an HTTP server handle) closed by `await using`. */
export function asDisposable<T extends { close(): Promise<void> }>(h: T): T & AsyncDisposable {
  return Object.assign(h, { [Symbol.asyncDispose]: () => h.close() });
}
