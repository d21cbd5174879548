/**
 * One coordinator tracking a large run (issue 21, item 3): a synthetic DAG of N stages (default
 * 10,000) in layers, each stage taking two outputs of the layer before (fan-out and fan-in),
 * with names like a Gentoo tree's (`l07-dev-libs-pkg0042`). Reports, against baselines measured
 * in the same process:
 *   - plan (parse + validate + resolve + cache keys + critical path, as `stagefarm plan`) and
 *     submit time, against a bare YAML parse of the same text;
 *   - the process's RSS and heap after submit and at the end of the run, against the RSS before;
 *   - the first run with in-process agents and a trivial executor, and a fully cached rerun.
 * Targets: ≤ 300 MiB RSS, plan + submit ≤ 2 s.
 *
 *   node dist/bench/scale.js [--stages N] [--width W] [--agents K] [--nats]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parse as parseYaml } from "yaml";
import { AgentService } from "../agent/index.js";
import { Coordinator, lookupEntries, planRun } from "../coordinator/index.js";
import { MemoryBus, NatsBus, type MessageBus } from "../shared/bus/index.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../shared/job.js";
import { silentLogger } from "../shared/log.js";
import { connectNats, NatsEventLog, NatsJobQueue, NatsKvStore } from "../shared/nats/index.js";
import { parsePipeline, resolvePipeline } from "../shared/pipeline/index.js";
import { readYamlDocument } from "../shared/yaml/index.js";
import {
  MemoryEventLog,
  MemoryJobQueue,
  MemoryKvStore,
  type EventLog,
  type JobQueue,
  type KvStore,
} from "../shared/ports/index.js";
import { subjects } from "../shared/protocol/subjects.js";
import { FsArtifactStore } from "../shared/store/index.js";
import { intArg } from "./args.js";
import { startNatsServer } from "../test/helpers/nats-server.js";

const STAGES = intArg("--stages", 10_000);
const WIDTH = intArg("--width", 100);
const AGENTS = intArg("--agents", 4);
const NATS = process.argv.includes("--nats");
const log = silentLogger();
const CATEGORIES = ["sys-libs", "dev-libs", "sys-apps", "dev-lang", "app-arch", "net-misc", "x11-libs"];

class TrivialExecutor implements StageWorker {
  constructor(private readonly store: FsArtifactStore) {}
  async execute(job: StageJob, _opts: ExecuteOptions): Promise<StageResult> {
    const blob = await this.store.putBlob(Readable.from([Buffer.from(job.stage.name)]));
    return {
      outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
      logPath: `logs/${job.runId}/${job.stage.name}/1.log`,
      durationMs: 0,
    };
  }
}

function stageName(layer: number, i: number): string {
  const cat = CATEGORIES[i % CATEGORIES.length] ?? "dev-libs";
  return `l${String(layer).padStart(3, "0")}-${cat}-pkg${String(i).padStart(4, "0")}`;
}

/** The synthetic pipeline: layers of `width` stages, each taking two outputs of the layer before. */
function pipeline(n: number, width: number): string {
  const lines = ["pipeline: scale", "stages:"];
  for (let k = 0; k < n; k++) {
    const layer = Math.floor(k / width);
    const i = k % width;
    const prevWidth = Math.min(width, n - (layer - 1) * width);
    const inputs =
      layer === 0
        ? ""
        : `, inputs: { a: { from: ${stageName(layer - 1, i % prevWidth)}.o, unpack: false }, b: { from: ${stageName(layer - 1, (i + 1) % prevWidth)}.o, unpack: false } }`;
    lines.push(`  ${stageName(layer, i)}: { runner: shell, script: "true", outputs: { o: o }${inputs} }`);
  }
  return `${lines.join("\n")}\n`;
}

const mib = (b: number): string => `${(b / (1 << 20)).toFixed(0)} MiB`;
const since = (t: number): number => performance.now() - t;

interface Ports {
  kv: KvStore;
  queue: JobQueue;
  events: EventLog;
  bus: MessageBus;
  close(): Promise<void>;
}

function memoryPorts(): Ports {
  const kv = new MemoryKvStore();
  const queue = new MemoryJobQueue({ ackWaitMs: 60_000 });
  const events = new MemoryEventLog();
  const bus = new MemoryBus();
  return {
    kv,
    queue,
    events,
    bus,
    close: async () => {
      await queue.close();
      await events.close();
      await kv.close();
      await bus.close();
    },
  };
}

async function natsPorts(url: string): Promise<Ports> {
  const nc = await connectNats(url, { name: "bench-scale", logger: log });
  const kv = await NatsKvStore.open(nc, "scale_state");
  const queue = await NatsJobQueue.open(nc, { prefix: "scale", ackWaitMs: 60_000 });
  const events = await NatsEventLog.open(nc, { prefix: "scale" });
  const bus = new NatsBus(nc, log);
  return {
    kv,
    queue,
    events,
    bus,
    close: async () => {
      await queue.close();
      await nc.close();
    },
  };
}

const nats = NATS ? await startNatsServer() : undefined;
const dir = await mkdtemp(join(tmpdir(), "sf-bench-scale-"));
try {
  // The pipeline bounds (shared/yaml/bounds.ts: bytes, keys) refuse very large pipelines; the
  // bench says so and measures the largest halving of N that they accept.
  let n = STAGES;
  let text = pipeline(n, WIDTH);
  for (;;) {
    const read = readYamlDocument(text);
    if (read.t !== "refused") break;
    console.log(
      `${n} stages (${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB): refused by the pipeline bounds: ${read.problem.message}`,
    );
    n = Math.floor(n / 2);
    text = pipeline(n, WIDTH);
  }
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  console.log(
    `${n} stages in layers of ${WIDTH} (${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB of YAML), ${AGENTS} agents × 8 slots, ${NATS ? "NATS" : "memory"} ports`,
  );

  let t = performance.now();
  parseYaml(text);
  const bareParseMs = since(t);

  const store = await FsArtifactStore.open(join(dir, "store"));
  t = performance.now();
  const spec = parsePipeline(text, "scale.yaml");
  const stages = resolvePipeline(spec, {});
  const plan = await planRun(
    (keys) => lookupEntries(store, keys, undefined),
    stages,
    () => 60_000,
  );
  const planMs = since(t);
  console.log(
    `plan: ${planMs.toFixed(0)} ms (${(planMs / bareParseMs).toFixed(1)}× a bare YAML parse of ${bareParseMs.toFixed(0)} ms); critical path ${plan.criticalPath.path.length} stages`,
  );

  const ports = NATS && nats !== undefined ? await natsPorts(nats.url) : memoryPorts();
  const coordinator = new Coordinator({
    ...ports,
    store,
    subjects: subjects(NATS ? "scale" : "sf"),
    logger: log,
    leaseMs: 600_000,
    leaseCheckMs: 1000,
    agentOfflineMs: 600_000,
    maxDispatchPerRun: 100_000,
    stageJobs: 1,
    submissionLimits: { maxBytes: 16 << 20, timeoutMs: 120_000, heapMb: 1024 },
  });
  await coordinator.start();
  t = performance.now();
  const doc = await coordinator.submit({ yaml: text, path: "scale.yaml", params: {} });
  const submitMs = since(t);
  global.gc?.();
  const rssSubmit = process.memoryUsage().rss;
  console.log(
    `submit: ${submitMs.toFixed(0)} ms; plan + submit ${((planMs + submitMs) / 1000).toFixed(2)} s (target ≤ 2 s); RSS after submit ${mib(rssSubmit)} (+${mib(rssSubmit - rss0)} over the ${mib(rss0)} before)`,
  );

  const agents: AgentService[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const a = new AgentService({
      agentId: `a${i}`,
      hostname: "bench",
      labels: [],
      slots: 8,
      ...ports,
      subjects: subjects(NATS ? "scale" : "sf"),
      executor: new TrivialExecutor(store),
      logger: log,
      heartbeatMs: 5000,
      claimTimeoutMs: 30_000,
      version: "bench",
      diskFreeBytes: () => Promise.resolve(1 << 30),
    });
    a.start();
    agents.push(a);
  }
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  t = performance.now();
  await coordinator.settled(doc.id);
  const firstS = since(t) / 1000;
  const status = (await coordinator.getRun(doc.id)).status;
  console.log(
    `first run: ${status} in ${firstS.toFixed(1)} s (${(n / firstS).toFixed(0)} stages/s); peak RSS ${mib(peak)} (coordinator and agents in one process; target ≤ 300 MiB)`,
  );

  t = performance.now();
  const again = await coordinator.submit({ yaml: text, path: "scale.yaml", params: {} });
  await coordinator.settled(again.id);
  const cachedS = since(t) / 1000;
  clearInterval(sampler);
  console.log(
    `fully cached rerun: ${(await coordinator.getRun(again.id)).status} in ${cachedS.toFixed(2)} s (${(cachedS / firstS).toFixed(3)} of the first run); peak RSS ${mib(peak)}`,
  );
  await Promise.all(agents.map((a) => a.close()));
  await coordinator.close();
  await ports.close();
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
  if (nats !== undefined) await nats[Symbol.asyncDispose]();
}
