/**
 * Reproducibility checks in the run engine (`repro`), with an in-process fake worker and a real
 * filesystem store: the second build runs without the cache as the next attempt, excludes the
 * first build's agent, never writes the cache entry, and its verdict is emitted, kept by the
 * run document's schema and shown by the API message; `strict` fails the run naming the stage.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type RunDoc, type RunEvent } from "../../coordinator/index.js";
import {
  executeRun,
  runDocSchema,
  runMessage,
  reproDocSchema,
  verdictOf,
} from "../../coordinator/testing.js";
import { ReproState } from "../../proto/gen/stagefarm/v1/repro_pb.js";
import { computeCacheKey } from "../../shared/cache-key/index.js";
import type { DiffReport, PackageGroup } from "../../shared/diff/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";

/** Stage `clock`'s output holds its attempt number (it differs per build); `fixed`'s is constant. */
class FakeWorker implements StageWorker {
  readonly jobs: StageJob[] = [];
  constructor(
    private readonly store: FsArtifactStore,
    /** The second builds fail as an unreachable store would. */
    private readonly secondFails = false,
  ) {}

  async execute(job: StageJob, _opts: ExecuteOptions): Promise<StageResult> {
    this.jobs.push(job);
    if (this.secondFails && job.attempt > 1)
      throw new StagefarmError("unavailable", "store unavailable", { details: { agent: "agent-b" } });
    const content = job.stage.name === "clock" ? `built as attempt ${job.attempt}` : "constant";
    const blob = await this.store.putBlob(Readable.from([Buffer.from(content)]));
    return {
      outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
      logPath: `logs/${job.runId}/${job.stage.name}/${job.attempt}.log`,
      durationMs: 1,
      producer: job.attempt === 1 ? "agent-a" : "agent-b",
    };
  }
}

const text = `pipeline: t
stages:
  fixed: { runner: shell, script: fixed, outputs: { o: o } }
  clock: { runner: shell, script: clock, inputs: { x: fixed.o }, outputs: { o: o } }
`;

describe("reproducibility checks in the run engine", () => {
  let dir: string;
  let store: FsArtifactStore;
  const stores: FsArtifactStore[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-repro-"));
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A run on a fresh store (nothing cached). */
  async function run(strict: boolean, events: RunEvent[], secondFails = false) {
    store = await FsArtifactStore.open(await mkdtemp(join(dir, "store-")));
    stores.push(store);
    const spec = parsePipeline(text, "t.yaml");
    const worker = new FakeWorker(store, secondFails);
    const result = await executeRun(
      { store, worker, logger: silentLogger() },
      {
        runId: "r1",
        pipeline: spec.name,
        stages: resolvePipeline(spec, {}),
        slots: 2,
        stageJobs: 1,
        signal: new AbortController().signal,
        repro: { stages: new Set(["fixed", "clock"]), strict, otherAgent: true },
        onEvent: (e) => events.push(e),
      },
    );
    return { spec, worker, result };
  }

  test("builds each named stage twice, elsewhere, keeps the first build cached and records the verdicts", async () => {
    const events: RunEvent[] = [];
    const { spec, worker, result } = await run(false, events);
    assert.equal(result.outcome, "succeeded", "a stage that is not reproducible does not fail the run");
    const builds = worker.jobs.map(
      (j) => `${j.stage.name}#${j.attempt}:${(j.excludeAgents ?? []).join(",")}`,
    );
    assert.deepEqual(builds.sort(), ["clock#1:", "clock#2:agent-a", "fixed#1:", "fixed#2:agent-a"]);

    assert.equal(result.repro.get("fixed")?.state, "reproducible");
    const clock = result.repro.get("clock");
    assert.equal(clock?.state, "differs");
    assert.deepEqual(clock.first, { attempt: 1, agent: "agent-a", logPath: "logs/r1/clock/1.log" });
    assert.deepEqual(clock.second, { attempt: 2, agent: "agent-b", logPath: "logs/r1/clock/2.log" });
    assert.equal(clock.outputs?.[0]?.identical, false);
    assert.match(clock.outputs?.[0]?.summary ?? "", /byte for byte/);
    const states = events.flatMap((e) => (e.t === "repro" && e.stage === "clock" ? [e.repro.state] : []));
    assert.deepEqual(states, ["building", "differs"]);

    // The cache entry is the first build's.
    const stages = resolvePipeline(spec, {});
    const first = result.states.get("clock");
    assert.ok(first?.t === "done");
    const fixedOut = result.states.get("fixed");
    assert.ok(fixedOut?.t === "done");
    const clockStage = stages.find((s) => s.name === "clock");
    assert.ok(clockStage !== undefined);
    const key = computeCacheKey(clockStage, { x: fixedOut.outputs["o"] ?? assert.fail("no output") });
    assert.equal(key, first.key);
    const manifest = await store.getManifest(key);
    assert.equal(manifest?.outputs["o"]?.digest, first.outputs["o"]?.digest);
    assert.equal(manifest?.producer, "agent-a");
    assert.notEqual(clock.outputs?.[0]?.b, first.outputs["o"]?.digest);

    // Recorded in the run document (its schema keeps it) and shown by the API, the second build
    // apart from the stage's attempts.
    const doc: RunDoc = runDocSchema.parse({
      v: 1,
      id: "r1",
      pipeline: "t",
      path: "t.yaml",
      yaml: text,
      params: {},
      status: "succeeded",
      createdAt: 1,
      stages: {
        fixed: { state: "done", attempt: 1, attempts: [{ n: 1, outcome: "succeeded", agent: "agent-a" }] },
        clock: { state: "done", attempt: 1, attempts: [{ n: 1, outcome: "succeeded", agent: "agent-a" }] },
      },
      repro: { stages: ["fixed", "clock"], strict: false, verdicts: Object.fromEntries(result.repro) },
    });
    const msg = runMessage(doc).stages.find((s) => s.name === "clock");
    assert.equal(msg?.repro?.state, ReproState.DIFFERS);
    assert.equal(msg.repro.second?.agent, "agent-b");
    assert.deepEqual(
      msg.attempts.map((a) => a.number),
      [1],
    );
  });

  test("strict: a stage that is not reproducible fails the run, named with its differing output", async () => {
    const events: RunEvent[] = [];
    const { result } = await run(true, events);
    assert.equal(result.outcome, "failed");
    assert.equal(result.counts.failed, 0, "every stage itself succeeded");
    assert.match(result.reproFailure ?? "", /stage clock differs in output o/);
    assert.doesNotMatch(result.reproFailure ?? "", /fixed/);
    const finished = events.find((e) => e.t === "run-finished");
    assert.equal(finished?.t === "run-finished" ? finished.reproFailure : undefined, result.reproFailure);
  });

  test("a second build that fails is no verdict (error), and fails no stage nor a strict run", async () => {
    const events: RunEvent[] = [];
    const { result } = await run(true, events, true);
    assert.equal(result.outcome, "succeeded");
    assert.equal(result.reproFailure, undefined);
    const clock = result.repro.get("clock");
    assert.equal(clock?.state, "error");
    assert.equal(clock.error, "the second build failed: store unavailable");
    assert.equal(clock.second?.agent, "agent-b");
    assert.equal(result.states.get("clock")?.t, "done");
  });
});

test("a verdict keeps at most 30 packages over all outputs and 5 paths each, and its document parses", () => {
  const group = (i: number): PackageGroup => ({
    key: `cat/p${i}`,
    cpvB: `cat/p${i}-1`,
    vdb: [],
    changes: Array.from({ length: 20 }, (_, j) => ({
      t: "differs" as const,
      path: `usr/share/p${i}/\u0000\u001b[31m${"x".repeat(500)}${j}`,
      diffs: [{ attr: "content" as const, a: "1", b: "2" }],
    })),
  });
  const report = (from: number, n: number): DiffReport => ({
    v: 1,
    a: "a",
    b: "b",
    normalize: false,
    identical: false,
    entries: { a: 1, b: 1 },
    packages: Array.from({ length: n }, (_, i) => group(from + i)),
    unowned: { vdb: [], changes: [] },
    normalized: {},
  });
  const v = verdictOf([
    { name: "one", a: "1".repeat(64), b: "2".repeat(64), t: "diff", report: report(0, 25) },
    { name: "two", a: "3".repeat(64), b: "4".repeat(64), t: "diff", report: report(25, 25) },
  ]);
  assert.equal(v.state, "differs");
  assert.deepEqual(
    v.outputs?.map((o) => [o.packages.length, o.morePackages]),
    [
      [25, undefined],
      [5, 20],
    ],
  );
  const paths = v.outputs?.[0]?.packages[0]?.paths ?? [];
  assert.equal(paths.length, 5);
  assert.ok(paths.every((p) => p.length < 300 && !p.includes("\u0000") && !p.includes("\u001b")));
  const doc = { state: v.state, outputs: v.outputs, first: {}, startedAt: 1 };
  assert.deepEqual(reproDocSchema.parse(doc), doc);
  assert.ok(JSON.stringify(doc).length < 48 * 1024, "a verdict stays small");
});
