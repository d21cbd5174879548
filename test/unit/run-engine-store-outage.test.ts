/**
 * The run engine during a store outage (its `storeGate`): nothing new starts and the stages
 * that would move on say `store unavailable since T`; the run goes on when the store is back;
 * an outage longer than the budget fails the stage with a message naming the outage.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type RunEvent } from "../../coordinator/index.js";
import { executeRun } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob, StageResult, StageWorker } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import {
  FsArtifactStore,
  outageTolerantStore,
  StoreOutage,
  type ArtifactStore,
} from "../../shared/store/index.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: t
stages:
  a: { runner: shell, script: a, outputs: { o: o } }
  b: { runner: shell, script: b, inputs: { x: a.o }, outputs: { o: o } }
`;

function s3Down(): StagefarmError {
  return new StagefarmError("unavailable", "the S3 server is unavailable after 7 attempts (ECONNREFUSED)", {
    details: { store: "s3://127.0.0.1:1/b" },
  });
}

class Worker implements StageWorker {
  readonly started: string[] = [];
  constructor(private readonly store: ArtifactStore) {}
  async execute(job: StageJob): Promise<StageResult> {
    this.started.push(job.stage.name);
    const blob = await this.store.putBlob(Readable.from([Buffer.from(job.stage.name)]));
    return {
      outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
      logPath: `logs/${job.runId}/${job.stage.name}/1.log`,
      durationMs: 1,
    };
  }
}

void describe("run engine during a store outage", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-engine-outage-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function start(store: ArtifactStore, worker: StageWorker, gate: StoreOutage, events: RunEvent[]) {
    const spec = parsePipeline(PIPELINE, "t.yaml");
    return executeRun(
      { store, worker, logger: silentLogger(), storeGate: gate },
      {
        runId: "r1",
        pipeline: spec.name,
        stages: resolvePipeline(spec, {}),
        slots: 2,
        stageJobs: 1,
        signal: new AbortController().signal,
        onEvent: (e) => events.push(e),
      },
    );
  }

  void test("holds new work with the outage as the waiting reason, then runs when the store is back", async () => {
    const fs = await FsArtifactStore.open(await mkdtemp(join(dir, "s-")));
    const gate = new StoreOutage({ budgetMs: 600_000 });
    gate.unavailable(s3Down());
    const worker = new Worker(fs);
    const events: RunEvent[] = [];
    const done = start(outageTolerantStore(fs, gate), worker, gate, events);
    const reason = await poll(
      () => {
        for (const e of events)
          if (
            e.t === "stage" &&
            e.stage === "a" &&
            e.status.t === "waiting" &&
            e.status.reason.startsWith("store")
          )
            return e.status.reason;
        return undefined;
      },
      { timeoutMs: 5000, what: "stage a held for the store" },
    );
    assert.match(reason, /^store unavailable since \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    assert.deepEqual(worker.started, [], "nothing is dispatched while the store is away");
    gate.available();
    const r = await done;
    assert.equal(r.outcome, "succeeded");
    assert.deepEqual(worker.started, ["a", "b"]);
    await fs.close();
  });

  void test("an outage longer than the budget fails the stage, saying so", async () => {
    const fs = await FsArtifactStore.open(await mkdtemp(join(dir, "s-")));
    // The action cache never answers: the store is down for good.
    const down = new Proxy(fs, {
      get(target, prop, receiver) {
        if (prop === "getManifest") return () => Promise.reject(s3Down());
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const gate = new StoreOutage({ budgetMs: 300, baseBackoffMs: 50 });
    const worker = new Worker(fs);
    const events: RunEvent[] = [];
    const r = await start(outageTolerantStore(down, gate), worker, gate, events);
    assert.equal(r.outcome, "failed");
    const a = r.states.get("a");
    assert.ok(a?.t === "failed", `a is ${a?.t}`);
    assert.equal(a.error.code, "unavailable");
    assert.match(
      a.error.message,
      /store outage longer than the outage budget: unavailable since .*budget 0\.3s/,
    );
    const b = r.states.get("b");
    assert.ok(b?.t === "skipped" && /upstream stage a failed/.test(b.reason));
    assert.deepEqual(worker.started, []);
    await fs.close();
  });
});
