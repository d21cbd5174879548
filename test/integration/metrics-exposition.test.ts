/**
 * The coordinator's and agents' metrics over the in-process ports with real executors: a run
 * gives the expected series, both expositions pass `promtool check metrics`; waiting reasons,
 * queue depth and running stages show while stages wait and run; odd names and a pipeline with
 * many stages keep the exposition valid and the series count bounded; agents coming and going
 * while /metrics is scraped leave no series behind and break nothing.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import {
  AgentService,
  createAgentMetrics,
  meteredStore,
  StageExecutor,
  startAgentHttpServer,
  type AgentMetrics,
} from "../../agent/index.js";
import {
  Coordinator,
  createMetrics,
  startHttpServer,
  type CoordinatorMetrics,
  type MetricsLimits,
  type RunDoc,
} from "../../coordinator/index.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { silentLogger } from "../../shared/log.js";
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore } from "../../shared/ports/index.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { blobPath, FsArtifactStore } from "../../shared/store/index.js";
import { until } from "../helpers/farm-process.js";
import { parseExposition, promtool, type ExpositionSample } from "../helpers/prometheus.js";

/** Coordinator + agents over memory ports, each with its metrics. */
class MetricsFarm implements AsyncDisposable {
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

function value(samples: ExpositionSample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

function series(samples: ExpositionSample[], name: string): ExpositionSample[] {
  return samples.filter((s) => s.name === name);
}

async function checkMetrics(what: string, text: string): Promise<void> {
  const r = await promtool(["check", "metrics"], text);
  assert.equal(r.code, 0, `promtool check metrics on ${what}:\n${r.stdout}${r.stderr}`);
}

const fan = (n: number, sleep = "0"): string => `pipeline: fan
stages:
  root:
    runner: shell
    script: mkdir -p out && head -c 100000 /dev/zero > out/r
    outputs: { r: out/r }
${Array.from(
  { length: n },
  (_, i) => `  leaf${i}:
    runner: shell
    inputs: { r: { from: root.r, unpack: false } }
    script: mkdir -p out && sleep ${sleep} && wc -c < inputs/r > out/o && echo ${i} >> out/o
    outputs: { o: out/o }
`,
).join("")}`;

describe("stagefarm metrics (in-process farm)", () => {
  test("a run: expected series on the coordinator and the agents, both pass promtool", async () => {
    await using farm = await MetricsFarm.create();
    const a1 = await farm.addAgent("a1", ["x86_64"], 2);
    const a2 = await farm.addAgent("a2", ["x86_64"], 2);
    const doc = await farm.run("fan", fan(4));
    assert.equal(doc.status, "succeeded");
    const { text, samples } = await farm.scrape();
    await checkMetrics("the coordinator", text);
    assert.equal(value(samples, "stagefarm_stages_total", { pipeline: "fan", result: "done" }), 5);
    assert.equal(value(samples, "stagefarm_cache_lookups_total", { kind: "stage", result: "miss" }), 5);
    assert.equal(value(samples, "stagefarm_cache_lookups_total", { kind: "binpkg", result: "hit" }), 0);
    assert.equal(value(samples, "stagefarm_stage_queue_wait_seconds_count", { pool: "any" }), 5);
    assert.equal(value(samples, "stagefarm_runs_total", { pipeline: "fan", outcome: "succeeded" }), 1);
    assert.equal(value(samples, "stagefarm_runs_active"), 0);
    // One duration series per stage, and the largest finite bucket covers two days.
    const counts = samples.filter((s) => s.name === "stagefarm_stage_duration_seconds_count");
    assert.deepEqual(counts.map((s) => s.labels["stage"]).sort(), [
      "leaf0",
      "leaf1",
      "leaf2",
      "leaf3",
      "root",
    ]);
    const les = series(samples, "stagefarm_stage_duration_seconds_bucket").map((s) => Number(s.labels["le"]));
    assert.ok(les.includes(86400) && les.includes(172800), "buckets reach 86400 s and beyond");
    // The fleet as the coordinator sees it: both agents, their slots, heartbeats, disk.
    await until(
      async () =>
        value((await farm.scrape()).samples, "stagefarm_agents", { state: "idle" }) === 2 ? true : undefined,
      5000,
      "both agents idle",
    );
    const fleet = (await farm.scrape()).samples;
    assert.deepEqual(
      series(fleet, "stagefarm_agent_slots").map((s) => [s.labels["agent"], s.value]),
      [
        ["a1", 2],
        ["a2", 2],
      ],
    );
    assert.equal(value(fleet, "stagefarm_agent_busy_slots"), 0);
    for (const s of series(fleet, "stagefarm_agent_last_heartbeat_timestamp_seconds"))
      assert.ok(Math.abs(s.value - Date.now() / 1000) < 10, `heartbeat timestamp of ${s.labels["agent"]}`);
    assert.equal(value(fleet, "stagefarm_agent_disk_free_bytes", { agent: "a1" }), 5 << 30);
    assert.equal(value(fleet, "stagefarm_stages_waiting"), 0);
    assert.equal(value(fleet, "stagefarm_queue_depth"), 0);

    // The agents' own endpoints: every stage ran somewhere, leaves downloaded root's output.
    const agentSamples: ExpositionSample[] = [];
    for (const [id, a] of [
      ["a1", a1],
      ["a2", a2],
    ] as const) {
      await using http = asDisposable(
        await startAgentHttpServer({
          host: "127.0.0.1",
          port: 0,
          metrics: a.metrics,
          logger: silentLogger(),
          accepting: () => !a.service.isDraining,
        }),
      );
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${http.url}/readyz`)).status, 200);
      const res = await fetch(`${http.url}/metrics`);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      const body = await res.text();
      await checkMetrics(`agent ${id}`, body);
      const parsed = parseExposition(body);
      assert.equal(value(parsed, "stagefarm_agent_info", { agent: id }), 1);
      assert.equal(value(parsed, "stagefarm_agent_work_dir_free_bytes"), 5 << 30);
      agentSamples.push(...parsed);
    }
    assert.equal(value(agentSamples, "stagefarm_agent_stages_total", { result: "succeeded" }), 5);
    assert.equal(value(agentSamples, "stagefarm_agent_claims_total", { result: "granted" }), 5);
    assert.ok(value(agentSamples, "stagefarm_artifact_bytes_total", { direction: "download" }) >= 4 * 100000);
    assert.ok(value(agentSamples, "stagefarm_artifact_bytes_total", { direction: "upload" }) >= 100000);
    assert.ok(
      value(agentSamples, "stagefarm_artifact_transfer_duration_seconds_count", { direction: "upload" }) >= 5,
    );
  });

  test("waiting reasons, queue depth and running stages while stages wait and run", async () => {
    await using farm = await MetricsFarm.create();
    await farm.addAgent("solo", ["solo"], 1);
    const yaml = `pipeline: waits
stages:
  one: { runner: shell, requires: [solo], script: sleep 1.5 }
  two: { runner: shell, requires: [solo], script: sleep 1.5 }
  gated:
    runner: shell
    requires: [catalyst]
    script: mkdir -p out && echo x > out/x
    outputs: { x: out/x }
  after:
    runner: shell
    inputs: { x: { from: gated.x } }
    script: "true"
`;
    const path = join(farm.dir, "waits.yaml");
    await writeFile(path, yaml);
    const doc = await farm.coordinator.submit({ yaml, path, params: {} });
    const seen = await until(
      async () => {
        const { samples } = await farm.scrape();
        const w = (reason: string): number => value(samples, "stagefarm_stages_waiting", { reason });
        return w("no_matching_agent") === 1 && w("agents_busy") === 1 && w("upstream") === 1
          ? samples
          : undefined;
      },
      10_000,
      "one stage without a matching agent, one behind a busy agent, one waiting upstream",
    );
    assert.equal(value(seen, "stagefarm_queue_depth", { pool: "catalyst" }), 1);
    assert.equal(value(seen, "stagefarm_queue_depth", { pool: "solo" }), 1);
    assert.equal(value(seen, "stagefarm_agent_busy_slots", { agent: "solo" }), 1);
    const running = series(seen, "stagefarm_stage_running_seconds");
    assert.equal(running.length, 1);
    assert.equal(running[0]?.labels["pipeline"], "waits");
    assert.ok(["one", "two"].includes(running[0]?.labels["stage"] ?? ""));
    // An agent with the missing label arrives: everything drains to zero.
    await farm.addAgent("cat", ["catalyst"], 1);
    await farm.coordinator.settled(doc.id);
    assert.equal((await farm.coordinator.getRun(doc.id)).status, "succeeded");
    const after = (await farm.scrape()).samples;
    assert.equal(value(after, "stagefarm_stages_waiting"), 0);
    assert.equal(value(after, "stagefarm_queue_depth"), 0);
    assert.equal(series(after, "stagefarm_stage_running_seconds").length, 0);
    assert.equal(value(after, "stagefarm_stage_queue_wait_seconds_count", { pool: "catalyst" }), 1);
  });

  test("odd names and many stages: valid exposition, bounded series", async () => {
    const limits = { pipelines: 3, stages: 12, pools: 4 };
    await using farm = await MetricsFarm.create({ limits });
    await farm.addAgent("a1", ["x86_64"], 4);
    // A pipeline named by its directory (no `pipeline:` key): quotes, a backslash, a newline.
    const oddName = 'odd "dir" \\ with\nnewline ü';
    const dir = join(farm.dir, oddName);
    await mkdir(dir);
    // Names no pipeline file can produce reach the metrics directly (first: the bounds keep them).
    const m = farm.metrics;
    const odd = ['q"uote', "back\\slash", "new\nline", "{b=c,d}", "\ud800lone", "", "🚀"];
    for (const s of odd) m.stageFinished("direct", s, "failed", 1500);
    const many = `stages:\n${Array.from({ length: 40 }, (_, i) => `  s${i}: { runner: shell, script: "true" }\n`).join("")}`;
    const doc = await farm.run("pipeline", many, dir);
    assert.equal(doc.status, "succeeded");
    assert.equal(doc.pipeline, oddName);
    for (let i = 0; i < 3000; i++) m.stageFinished(`p${i % 50}`, `stage-${i}`, "done", i * 1000);
    for (let i = 0; i < 200; i++) m.queueWait(`pool-${i}`, i);

    const { text, samples } = await farm.scrape();
    await checkMetrics("odd names and many stages", text);
    const durations = series(samples, "stagefarm_stage_duration_seconds_count");
    const pairs = new Set(durations.map((s) => `${s.labels["pipeline"]}/${s.labels["stage"]}`));
    assert.ok(
      pairs.size <= limits.stages + limits.pipelines + 1,
      `bounded (pipeline, stage) pairs: ${pairs.size}`,
    );
    const pipelines = new Set(durations.map((s) => s.labels["pipeline"]));
    assert.ok(pipelines.size <= limits.pipelines + 1, `bounded pipelines: ${[...pipelines].join(" | ")}`);
    assert.ok(pipelines.has(oddName), "the odd pipeline name round-trips through the exposition");
    assert.ok(pipelines.has("other"));
    const directStages = durations
      .filter((s) => s.labels["pipeline"] === "direct")
      .map((s) => s.labels["stage"]);
    for (const s of ['q"uote', "back\\slash", "new\nline", "{b=c,d}", ""])
      assert.ok(directStages.includes(s), `stage ${JSON.stringify(s)} round-trips`);
    const pools = new Set(
      series(samples, "stagefarm_stage_queue_wait_seconds_count").map((s) => s.labels["pool"]),
    );
    assert.ok(pools.size <= limits.pools + 1 && pools.has("other"), `bounded pools: ${pools.size}`);
    assert.ok(samples.length < 5000, `bounded series in total: ${samples.length}`);
  });

  test("the metered store counts what it moves and passes a corrupt blob's error through", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-metered-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    try {
      const moved: Array<[string, number]> = [];
      const metered = meteredStore(store, { transfer: (d, bytes) => moved.push([d, bytes]) });
      assert.equal(metered.describe, store.describe);
      const blob = await metered.putBlob(Readable.from([Buffer.alloc(70_000, 1)]));
      await metered.putLog("logs/r/s/1.log", "hello\n");
      const chunks: Buffer[] = [];
      for await (const c of await metered.getBlob(blob.digest)) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).length, 70_000);
      assert.deepEqual(moved, [
        ["upload", 70_000],
        ["upload", 6],
        ["download", 70_000],
      ]);
      await writeFile(join(store.root, blobPath(blob.digest)), Buffer.alloc(70_000, 2));
      await assert.rejects(async () => {
        for await (const _ of await metered.getBlob(blob.digest)) void _;
      }, /corrupt|does not match/i);
      assert.equal(moved.length, 3, "a failed download is not counted");
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("agents coming and going while /metrics is scraped: no stale series, no failed scrape", async () => {
    await using farm = await MetricsFarm.create({ offlineMs: 400, limits: { agentRetentionMs: 1500 } });
    const logger = silentLogger();
    await using http = asDisposable(
      await startHttpServer({
        host: "127.0.0.1",
        port: 0,
        metrics: farm.metrics,
        logger,
        accepting: () => true,
      }),
    );
    let scrapes = 0;
    const stop = new AbortController();
    const scraper = (async () => {
      while (!stop.signal.aborted) {
        const res = await fetch(`${http.url}/metrics`);
        assert.equal(res.status, 200);
        parseExposition(await res.text());
        scrapes++;
      }
    })();
    const ids = async (): Promise<string[]> =>
      series((await farm.scrape()).samples, "stagefarm_agent_last_heartbeat_timestamp_seconds")
        .map((s) => s.labels["agent"] ?? "")
        .sort();
    try {
      assert.deepEqual(await ids(), []);
      for (let i = 0; i < 6; i++) await farm.addAgent(`a${i}`, ["x86_64"], 1);
      await until(
        async () => ((await ids()).length === 6 ? true : undefined),
        5000,
        "six agents with series",
      );
      // Two drain and leave, one stalls (no drain: it stays, offline, until the retention).
      for (const id of ["a0", "a1"]) {
        const a = farm.agents.get(id);
        await a?.service.drain(0);
        await a?.service.close();
      }
      farm.agents.get("a2")?.service.stopHeartbeats();
      await until(
        async () => ((await ids()).join(",") === "a2,a3,a4,a5" ? true : undefined),
        5000,
        "the drained agents' series to go",
      );
      const mid = (await farm.scrape()).samples;
      assert.equal(value(mid, "stagefarm_agents", { state: "offline" }), 1);
      assert.equal(value(mid, "stagefarm_agent_slots", { agent: "a2" }), 0);
      await until(
        async () => ((await ids()).join(",") === "a3,a4,a5" ? true : undefined),
        5000,
        "the stalled agent's series to go after the retention",
      );
      await farm.addAgent("a0", ["x86_64"], 1); // an agent coming back under its old id
      await until(async () => ((await ids()).includes("a0") ? true : undefined), 5000, "a0 back");
    } finally {
      stop.abort();
      await scraper;
    }
    assert.ok(scrapes > 10, `scraped ${scrapes} times meanwhile`);
    await checkMetrics("the coordinator after agents came and went", (await farm.scrape()).text);
  });
});

function asDisposable<T extends { close(): Promise<void> }>(h: T): T & AsyncDisposable {
  return Object.assign(h, { [Symbol.asyncDispose]: () => h.close() });
}
