/**
 * Dispatch through one coordinator over a real nats-server (JetStream queue, KV, events):
 *   - latency from a stage being dispatched (engine "running") to its executor starting, p50/p99
 *     (targets ≤ 2 ms / ≤ 25 ms, issue 21), with a bare NATS request/reply round trip as the baseline;
 *   - throughput of trivial stages with 1, 4 and 16 agents (target ≥ 2,000 stages/s), against
 *     what NATS itself carries on this machine: bare JetStream with pipelined publishes (500 in
 *     flight) to a file-backed work-queue stream and batched pulls (500 per fetch) with acks —
 *     the limit a farm could approach. The one-message-at-a-time figure through the project's
 *     queue (a latency bound, not a limit) is printed beside it.
 * Agents run in this process with an executor that stores a tiny output and returns: what is
 * measured is the farm's dispatch path (queue, claim, lease, events, KV, manifests), not builds.
 * Each run also prints the process's CPU per stage (far steadier than the wall clock on a loaded
 * machine) and where a stage's time went, read back from its dispatch record: queued → claimed,
 * claimed → result accepted (with the executor's store write inside it), and the span from the
 * first dispatch to the last result against the whole run (the rest: plan, cache, manifests).
 *
 *   node dist/bench/dispatch.js [--stages N]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { AgentService } from "../agent/index.js";
import { Coordinator } from "../coordinator/index.js";
import { NatsBus } from "../shared/bus/index.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../shared/job.js";
import { createLogger, silentLogger } from "../shared/log.js";
import { connectNats, NatsEventLog, NatsJobQueue, NatsKvStore } from "../shared/nats/index.js";
import { AckPolicy, RetentionPolicy, StorageType } from "nats";
import { subjects } from "../shared/protocol/subjects.js";
import { FsArtifactStore } from "../shared/store/index.js";
import { decodeMessage } from "../shared/protocol/messages.js";
import { dispatchRecordSchema } from "../coordinator/testing.js";
import { startNatsServer } from "../test/helpers/nats-server.js";

const arg = process.argv.indexOf("--stages");
const STAGES = arg > 0 ? Number(process.argv[arg + 1]) : 2000;
const log = process.env["BENCH_DEBUG"] === "1" ? createLogger({ level: "debug" }) : silentLogger();

class TrivialExecutor implements StageWorker {
  constructor(
    private readonly store: FsArtifactStore,
    private readonly started: Map<string, number>,
    /** How long each stage's store write took (the agent's whole "build"). */
    private readonly stored: number[],
  ) {}
  async execute(job: StageJob, _opts: ExecuteOptions): Promise<StageResult> {
    const t = performance.now();
    this.started.set(job.stage.name, t);
    const blob = await this.store.putBlob(Readable.from([Buffer.from(job.stage.name)]));
    this.stored.push(performance.now() - t);
    return {
      outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
      logPath: `logs/${job.runId}/${job.stage.name}/1.log`,
      durationMs: 0,
    };
  }
}

/** n independent stages, or (chain) each stage waiting for the previous one. */
function pipeline(n: number, tag: string, chain: boolean): string {
  const lines = ["pipeline: bench", "stages:"];
  for (let i = 0; i < n; i++) {
    const input = chain && i > 0 ? `, inputs: { p: { from: s${i - 1}.o, unpack: false } }` : "";
    lines.push(`  s${i}: { runner: shell, script: "echo ${tag} ${i}", outputs: { o: o }${input} }`);
  }
  return `${lines.join("\n")}\n`;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function farmRun(url: string, dir: string, agents: number, n: number, prefix: string, chain = false) {
  const nc = await connectNats(url, { name: "bench", logger: log });
  const store = await FsArtifactStore.open(join(dir, prefix));
  const kv = await NatsKvStore.open(nc, `${prefix}_state`);
  const queue = await NatsJobQueue.open(nc, { prefix, ackWaitMs: 30_000 });
  const events = await NatsEventLog.open(nc, { prefix });
  const bus = new NatsBus(nc, log);
  const subj = subjects(prefix);
  const coordinator = new Coordinator({
    kv,
    queue,
    events,
    bus,
    store,
    subjects: subj,
    logger: log,
    leaseMs: 60_000,
    leaseCheckMs: 1000,
    agentOfflineMs: 60_000,
    maxDispatchPerRun: 100_000,
    stageJobs: 1,
  });
  await coordinator.start();
  const started = new Map<string, number>();
  const stored: number[] = [];
  const dispatched = new Map<string, number>();
  const services: AgentService[] = [];
  for (let i = 0; i < agents; i++) {
    const a = new AgentService({
      agentId: `a${i}`,
      hostname: "bench",
      labels: [],
      slots: 8,
      queue,
      events,
      bus,
      subjects: subj,
      executor: new TrivialExecutor(store, started, stored),
      logger: log,
      heartbeatMs: 1000,
      claimTimeoutMs: 5000,
      version: "bench",
      diskFreeBytes: () => Promise.resolve(0),
    });
    a.start();
    services.push(a);
  }
  const off = coordinator.onEvent((e) => {
    if (e.t === "stage" && e.status.t === "running") dispatched.set(e.stage, performance.now());
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const doc = await coordinator.submit({ yaml: pipeline(n, prefix, chain), path: "bench.yaml", params: {} });
  await coordinator.settled(doc.id);
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  // The farm's CPU (coordinator and agents: this process) per stage, a figure the machine's load
  // changes far less than the wall clock.
  const cpuMsPerStage = (used.user + used.system) / 1000 / n;
  off();
  const lat = [...started].map(([s, t]) => t - (dispatched.get(s) ?? t));
  const status = (await coordinator.getRun(doc.id)).status;
  const phases = await dispatchPhases(kv, doc.id);
  await Promise.all(services.map((s) => s.close()));
  await coordinator.close();
  await Promise.all([queue.close(), events.close(), kv.close(), bus.close(), store.close()]);
  await nc.close();
  return { seconds, lat, status, cpuMsPerStage, phases, stored };
}

/**
 * Where a stage's time went, from its dispatch record (coordinator clock): waiting in the queue
 * (published → claimed) and owned by an agent (claimed → result accepted), and the span from
 * the first dispatch to the last accepted result (the rest of the run is planning, cache lookups
 * and manifests).
 */
async function dispatchPhases(kv: NatsKvStore, runId: string) {
  const queued: number[] = [];
  const owned: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const key of await kv.keys(`stages.${runId}`)) {
    const e = await kv.get(key);
    const d = e === undefined ? undefined : decodeMessage(dispatchRecordSchema, e.value);
    if (d?.ok !== true || d.value.t !== "finished") continue;
    const { queuedAt = 0, claimedAt = 0, finishedAt } = d.value;
    queued.push(claimedAt - queuedAt);
    owned.push(finishedAt - claimedAt);
    first = Math.min(first, queuedAt);
    last = Math.max(last, finishedAt);
  }
  return { queued, owned, spanMs: last - first };
}

function phaseLine(r: {
  phases: Awaited<ReturnType<typeof dispatchPhases>>;
  stored: number[];
  seconds: number;
}) {
  const { queued, owned, spanMs } = r.phases;
  return (
    `    queued → claimed p50 ${pct(queued, 50)} / p99 ${pct(queued, 99)} ms; claimed → result accepted p50 ${pct(owned, 50)} / p99 ${pct(owned, 99)} ms ` +
    `(of which the store write p50 ${pct(r.stored, 50).toFixed(1)} / p99 ${pct(r.stored, 99).toFixed(1)} ms); ` +
    `first dispatch → last result ${(spanMs / 1000).toFixed(2)} of ${r.seconds.toFixed(2)} s`
  );
}

async function baselineRoundTrip(url: string, n: number): Promise<number[]> {
  const nc = await connectNats(url, { name: "bench-base", logger: log });
  nc.subscribe("base.echo", { callback: (_e, m) => m.respond(m.data) });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await nc.request("base.echo", new Uint8Array(64), { timeout: 5000 });
    out.push(performance.now() - t);
  }
  await nc.close();
  return out;
}

/**
 * What JetStream carries here: n messages published with up to 500 acks outstanding to a
 * file-backed work-queue stream, consumed by batched pulls of 500 with an ack per message.
 */
async function baselinePipelined(url: string, n: number): Promise<number> {
  const nc = await connectNats(url, { name: "bench-pipelined", logger: log });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: "BASEPIPE",
    subjects: ["basepipe.>"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add("BASEPIPE", { durable_name: "w", ack_policy: AckPolicy.Explicit });
  const js = nc.jetstream();
  const consumer = await js.consumers.get("BASEPIPE", "w");
  const payload = new Uint8Array(256);
  const t0 = performance.now();
  const consumed = (async () => {
    let k = 0;
    while (k < n) {
      const batch = await consumer.fetch({ max_messages: 500, expires: 2000 });
      for await (const m of batch) {
        m.ack();
        k++;
      }
    }
  })();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const p = js.publish("basepipe.any", payload).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 500) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await consumed;
  const s = (performance.now() - t0) / 1000;
  await jsm.streams.delete("BASEPIPE");
  await nc.close();
  return n / s;
}

/** The project's queue one message at a time: publish, pull, ack (a latency bound). */
async function baselineQueue(url: string, n: number): Promise<number> {
  const nc = await connectNats(url, { name: "bench-q", logger: log });
  const queue = await NatsJobQueue.open(nc, { prefix: "basebench", ackWaitMs: 30_000 });
  const ac = new AbortController();
  const t0 = performance.now();
  const consumed = (async () => {
    let k = 0;
    for await (const m of queue.consume(["any"], { signal: ac.signal, maxInFlight: 64 })) {
      m.ack();
      if (++k === n) break;
    }
  })();
  for (let i = 0; i < n; i++) await queue.publish("any", new Uint8Array(256));
  await consumed;
  const s = (performance.now() - t0) / 1000;
  ac.abort();
  await queue.close();
  await nc.close();
  return n / s;
}

const nats = await startNatsServer();
const dir = await mkdtemp(join(tmpdir(), "sf-bench-dispatch-"));
try {
  const rt = await baselineRoundTrip(nats.url, 500);
  const qps = await baselinePipelined(nats.url, Math.max(STAGES, 20_000));
  const serial = await baselineQueue(nats.url, Math.min(STAGES, 2000));
  console.log(
    `baseline: NATS request/reply p50 ${pct(rt, 50).toFixed(2)} ms, p99 ${pct(rt, 99).toFixed(2)} ms`,
  );
  console.log(
    `baseline: bare JetStream, pipelined publishes (500 in flight) + batched pulls (500) + acks: ${qps.toFixed(0)} msgs/s`,
  );
  console.log(
    `          (the project's queue one message at a time: ${serial.toFixed(0)} msgs/s, ${(serial / qps).toFixed(3)} of that)`,
  );
  // Latency on an idle farm: a chain, so each stage is dispatched to a waiting agent.
  const chain = await farmRun(nats.url, dir, 1, 100, "lat", true);
  console.log(
    `latency (stage dispatched → executor started, 100 chained stages, idle agent): p50 ${pct(chain.lat, 50).toFixed(1)} ms ` +
      `(${(pct(chain.lat, 50) / pct(rt, 50)).toFixed(1)}× a NATS round trip), p99 ${pct(chain.lat, 99).toFixed(1)} ms — targets 2 / 25 ms — run ${chain.status}`,
  );
  console.log(phaseLine(chain));
  for (const agents of [1, 4, 16]) {
    const r = await farmRun(nats.url, dir, agents, STAGES, `b${agents}`);
    const rate = STAGES / r.seconds;
    console.log(
      `throughput, ${String(agents).padStart(2)} agents × 8 slots: ${STAGES} independent stages in ${r.seconds.toFixed(2)} s = ${rate.toFixed(0)} stages/s ` +
        `(${(rate / qps).toFixed(3)} of pipelined JetStream; target ≥ 2000/s), ${r.cpuMsPerStage.toFixed(2)} ms CPU per stage — run ${r.status}`,
    );
    console.log(phaseLine(r));
  }
} finally {
  await rm(dir, { recursive: true, force: true });
  await nats[Symbol.asyncDispose]();
}
