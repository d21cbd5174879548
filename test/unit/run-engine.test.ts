/**
 * The run engine with an in-process fake worker (the real executor has its own integration
 * tests) and a real filesystem store: ordering, cache hits and early cutoff, failure
 * propagation, retries, cancellation, corrupt cache entries.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type RunEvent } from "../../coordinator/index.js";
import { executeRun } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";

type Behaviour = (job: StageJob, opts: ExecuteOptions) => Promise<string | undefined> | string | undefined;

/**
 * Stages that wait for each other: each of `stages` holds its slot until all of them have
 * started (a barrier, so that they overlap however the machine schedules), or until `waitMs`
 * passed (so that an engine which cannot run them together is seen, not hung).
 */
interface Meet {
  stages: string[];
  waitMs: number;
}

/** Each stage's single output `o` holds the bytes `behave` returns (default: the stage name). */
class FakeWorker implements StageWorker {
  readonly started: string[] = [];
  maxConcurrent = 0;
  private running = 0;
  private arrived = (): void => undefined;
  private readonly met: Promise<void>;
  constructor(
    private readonly store: FsArtifactStore,
    private readonly behave: Record<string, Behaviour> = {},
    private readonly meet: Meet = { stages: [], waitMs: 0 },
  ) {
    this.met = new Promise<void>((resolve) => (this.arrived = resolve));
  }

  async execute(job: StageJob, opts: ExecuteOptions): Promise<StageResult> {
    this.started.push(job.stage.name);
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      if (this.meet.stages.includes(job.stage.name)) {
        if (this.meet.stages.every((st) => this.started.includes(st))) this.arrived();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.met, new Promise((r) => (timer = setTimeout(r, this.meet.waitMs)))]);
        clearTimeout(timer);
      }
      await new Promise((r) => setImmediate(r));
      const content = (await this.behave[job.stage.name]?.(job, opts)) ?? job.stage.name;
      const blob = await this.store.putBlob(Readable.from([Buffer.from(content)]));
      return {
        outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
        logPath: `logs/${job.runId}/x/1.log`,
        durationMs: 5,
      };
    } finally {
      this.running--;
    }
  }
}

const yaml = (extra = "") => `pipeline: t
stages:
  a: { runner: shell, script: a, outputs: { o: o }, estimate: 1s }
  b: { runner: shell, script: b, inputs: { x: a.o }, outputs: { o: o }, estimate: 10s }
  c: { runner: shell, script: c, inputs: { x: a.o }, outputs: { o: o }, estimate: 1s }
  d: { runner: shell, script: d, inputs: { x: b.o, y: c.o }, outputs: { o: o }, estimate: 1s${extra} }
`;

describe("run engine", () => {
  let dir: string;
  let store: FsArtifactStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-engine-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function freshStore(): Promise<FsArtifactStore> {
    store = await FsArtifactStore.open(await mkdtemp(join(dir, "s-")));
    return store;
  }

  async function run(
    worker: StageWorker,
    text: string,
    opts: { slots?: number; signal?: AbortSignal; events?: RunEvent[] } = {},
  ) {
    const spec = parsePipeline(text, "t.yaml");
    return executeRun(
      { store, worker, logger: silentLogger() },
      {
        runId: "r1",
        pipeline: spec.name,
        stages: resolvePipeline(spec, {}),
        slots: opts.slots ?? 1,
        stageJobs: 1,
        signal: opts.signal ?? new AbortController().signal,
        estimateMs: (n) => spec.stages.find((s) => s.name === n)?.estimateMs ?? 1000,
        retryBackoffMs: (attempt) => 40 * attempt,
        onEvent: (e) => opts.events?.push(e),
      },
    );
  }

  test("runs in dependency order, critical path first, and caches everything", async () => {
    await freshStore();
    const w = new FakeWorker(store);
    const events: RunEvent[] = [];
    const r = await run(w, yaml(), { events });
    assert.equal(r.outcome, "succeeded");
    assert.deepEqual(w.started, ["a", "b", "c", "d"], "b (10s to the end) before c (1s)");
    assert.deepEqual(r.counts, { executed: 4, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
    const waiting = events.find((e) => e.t === "stage" && e.stage === "d" && e.status.t === "waiting");
    assert.ok(
      waiting?.t === "stage" &&
        waiting.status.t === "waiting" &&
        /waiting for b, c/.test(waiting.status.reason),
    );

    const w2 = new FakeWorker(store);
    const r2 = await run(w2, yaml());
    assert.deepEqual(w2.started, []);
    assert.deepEqual(r2.counts, { executed: 0, cached: 4, failed: 0, skipped: 0, cancelled: 0 });
  });

  test("respects the slot count", async () => {
    await freshStore();
    // b and c wait for each other: on 2 slots they meet at once; on 1 slot b gives up waiting
    // after 200 ms (an engine ignoring the slot count would start c meanwhile).
    const w = new FakeWorker(store, {}, { stages: ["b", "c"], waitMs: 10_000 });
    await run(w, yaml(), { slots: 2 });
    assert.equal(w.maxConcurrent, 2, "b and c run together on 2 slots");
    await freshStore();
    const w1 = new FakeWorker(store, {}, { stages: ["b", "c"], waitMs: 200 });
    await run(w1, yaml(), { slots: 1 });
    assert.equal(w1.maxConcurrent, 1);
  });

  test("early cutoff: an upstream change that yields identical bytes keeps downstream cached", async () => {
    await freshStore();
    await run(new FakeWorker(store, { c: () => "same" }), yaml());
    const changed = yaml().replace("script: c,", "script: c-changed,");
    const w = new FakeWorker(store, { c: () => "same" });
    const r = await run(w, changed);
    assert.deepEqual(w.started, ["c"], "only the changed stage runs; d's inputs have the same digests");
    assert.equal(r.states.get("d")?.t, "cached");
  });

  test("a failure skips dependents, finishes independent branches, and the run fails", async () => {
    await freshStore();
    const w = new FakeWorker(store, {
      b: () => {
        throw new StagefarmError("stage_failed", "b broke");
      },
    });
    const r = await run(w, yaml(), { slots: 2 });
    assert.equal(r.outcome, "failed");
    assert.equal(r.states.get("b")?.t, "failed");
    assert.equal(r.states.get("c")?.t, "done");
    const d = r.states.get("d");
    assert.ok(d?.t === "skipped" && d.reason === "upstream stage b failed");
  });

  test("retries a failed stage up to its retries, then succeeds", async () => {
    await freshStore();
    let tries = 0;
    const w = new FakeWorker(store, {
      a: () => {
        if (++tries < 3) throw new StagefarmError("stage_failed", "flaky");
        return undefined;
      },
    });
    const events: RunEvent[] = [];
    const t0 = Date.now();
    const r = await run(w, yaml().replace("estimate: 1s }\n  b", "estimate: 1s, retries: 2 }\n  b"), {
      events,
    });
    assert.equal(tries, 3);
    assert.equal(r.outcome, "succeeded");
    assert.ok(Date.now() - t0 >= 40 + 80, "the retries waited their backoff (40 ms, then 80 ms)");
    const backoff = events.filter(
      (e) => e.t === "stage" && e.stage === "a" && e.status.t === "ready" && e.status.retryAt !== undefined,
    );
    assert.equal(backoff.length, 2, "two retries, each announced with its retry time");
    const a = r.states.get("a");
    assert.ok(a?.t === "done" && a.attempt === 3);
  });

  test("does not retry a deterministic error such as a digest mismatch", async () => {
    await freshStore();
    let tries = 0;
    const w = new FakeWorker(store, {
      a: () => {
        tries++;
        throw new StagefarmError("digest_mismatch", "bad source");
      },
    });
    const r = await run(w, yaml().replace("estimate: 1s }\n  b", "estimate: 1s, retries: 2 }\n  b"));
    assert.equal(tries, 1);
    assert.equal(r.outcome, "failed");
  });

  test("cancellation cancels running and waiting stages", async () => {
    await freshStore();
    const ac = new AbortController();
    const w = new FakeWorker(store, {
      b: (_job, opts) =>
        new Promise((_resolve, reject) => {
          opts.signal.addEventListener("abort", () => reject(new StagefarmError("cancelled", "killed")));
          ac.abort();
        }),
    });
    const r = await run(w, yaml(), { signal: ac.signal });
    assert.equal(r.outcome, "cancelled");
    assert.equal(r.states.get("a")?.t, "done");
    assert.equal(r.states.get("b")?.t, "cancelled");
    assert.equal(r.states.get("d")?.t, "cancelled");
  });

  test("a corrupt cached input is dropped and its producer rebuilt in the same run", async () => {
    await freshStore();
    const first = await run(new FakeWorker(store), yaml());
    const a = first.states.get("a");
    assert.ok(a?.t === "done");
    const digest = a.outputs["o"]?.digest ?? "";
    let failures = 0;
    const w = new FakeWorker(store, {
      b: () => {
        if (failures++ > 0) return undefined;
        throw new StagefarmError("corrupt_artifact", "input corrupt", { details: { digest } });
      },
    });
    // b's own cache entry must go for b to run again: use a changed b.
    const r = await run(w, yaml().replace("script: b,", "script: b2,"));
    assert.equal(r.outcome, "succeeded", "the run heals itself");
    assert.deepEqual(
      w.started.filter((s) => s === "a" || s === "b"),
      ["b", "a", "b"],
      "a is rebuilt, not served from the cache entry naming the corrupt blob, and b runs again",
    );
    assert.equal(r.states.get("a")?.t, "done");

    const always = new FakeWorker(store, {
      b: () => {
        throw new StagefarmError("corrupt_artifact", "input corrupt", { details: { digest } });
      },
    });
    const r2 = await run(always, yaml().replace("script: b,", "script: b3,"));
    assert.equal(r2.states.get("b")?.t, "failed", "once per run: a store that keeps corrupting fails");
  });

  test("a cache entry naming a missing blob is removed, so the rebuilt result takes its place", async () => {
    await freshStore();
    const first = await run(new FakeWorker(store), yaml());
    const a = first.states.get("a");
    assert.ok(a?.t === "done");
    await store.deleteBlob(a.outputs["o"]?.digest ?? "");
    const w = new FakeWorker(store, { a: () => "a, rebuilt" });
    assert.equal((await run(w, yaml())).outcome, "succeeded");
    assert.ok(w.started.includes("a"));
    const third = new FakeWorker(store);
    assert.equal((await run(third, yaml())).outcome, "succeeded");
    assert.deepEqual(third.started, [], "the third run is all cached: the new entry replaced the stale one");
  });

  test("a manifest file that does not parse is a miss, not a crash", async () => {
    await freshStore();
    const r = await run(new FakeWorker(store), yaml());
    const a = r.states.get("a");
    assert.ok(a?.t === "done");
    await writeFile(join(store.describe.replace(/^fs:/, ""), "ac", `${a.key}.json`), "{ truncated");
    const w = new FakeWorker(store);
    const r2 = await run(w, yaml());
    assert.equal(r2.outcome, "succeeded");
    assert.deepEqual(w.started, ["a"]);
  });
});
