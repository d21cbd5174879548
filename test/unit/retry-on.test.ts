/**
 * `retry_on:` (shared/pipeline/retry-on.ts): parsed with positions, and the engine's decision
 * from the failure's code and exit status (coordinator/engine/failure-policy.ts); the engine
 * retrying a failed stage while the rest of its run goes on (coordinator/engine/run-engine.ts).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { startRun, mayRetry } from "../../coordinator/testing.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { parseRetryCondition } from "../../shared/pipeline/testing.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { SHELL, assertOneError } from "../helpers/pipeline-assert.js";

const failure = (code: ErrorCode, exitCode?: number) =>
  new StagefarmError(code, "x", exitCode === undefined ? {} : { details: { exitCode } });

void describe("retry_on", () => {
  void test("parses into conditions; a wrong word is reported where it is written", () => {
    const spec = parsePipeline(SHELL("    retries: 2\n    retry_on: [infra, exit:75, timeout]\n"), "p.yaml");
    assert.deepEqual(spec.stages[0]?.retryOn, [{ t: "infra" }, { t: "exit", code: 75 }, { t: "timeout" }]);
    assert.equal(spec.stages[1], undefined);
    assert.equal(parsePipeline(SHELL(), "p.yaml").stages[0]?.retryOn, undefined);
    assertOneError(
      SHELL("    retry_on: [infra, infar]\n"),
      "infar",
      'stage "build" retry_on[1]: unknown failure "infar" (did you mean "infra"?)',
    );
    assertOneError(SHELL("    retry_on: [exit:256]\n"), "exit:256", "exit status 256 is not 1–255");
    assertOneError(SHELL("    retry_on: infra\n"), "infra", "retry_on: expected a list of strings");
    assert.equal(typeof parseRetryCondition("exit:0"), "string");
    assert.equal(typeof parseRetryCondition("exit:-1"), "string");
  });

  void test("the decision follows the error code and exit status, never the message", () => {
    const infra = [{ t: "infra" as const }];
    assert.equal(mayRetry(failure("stage_failed", 1), infra), false, "a compile error is not infra");
    assert.equal(mayRetry(failure("unavailable"), infra), true);
    assert.equal(mayRetry(failure("internal"), infra), true, "a runner that could not start");
    assert.equal(mayRetry(failure("timeout"), infra), false);
    const exit75 = [{ t: "infra" as const }, { t: "exit" as const, code: 75 }];
    assert.equal(mayRetry(failure("stage_failed", 75), exit75), true);
    assert.equal(mayRetry(failure("stage_failed", 1), exit75), false);
    assert.equal(mayRetry(failure("stage_failed"), [{ t: "exit" }]), true, "any exit status");
    // Default (no retry_on): as before retry_on existed.
    for (const code of ["stage_failed", "timeout", "unavailable", "internal"] as const)
      assert.equal(mayRetry(failure(code, 1)), true, code);
    for (const code of ["digest_mismatch", "missing_output", "invalid_argument", "cancelled"] as const)
      assert.equal(mayRetry(failure(code)), false, code);
  });
});

/** A worker whose stages behave as the test says; `o` holds the stage name. */
class ScriptedWorker implements StageWorker {
  readonly attempts: Array<[string, number]> = [];
  constructor(
    private readonly store: FsArtifactStore,
    private readonly behave: Record<string, (job: StageJob) => Promise<void> | void>,
  ) {}

  async execute(job: StageJob, _opts: ExecuteOptions): Promise<StageResult> {
    this.attempts.push([job.stage.name, job.attempt]);
    await this.behave[job.stage.name]?.(job);
    const blob = await this.store.putBlob(Readable.from([Buffer.from(job.stage.name)]));
    return {
      outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
      logPath: `logs/r/${job.stage.name}/${job.attempt}.log`,
      durationMs: 1,
    };
  }
}

void describe("run engine: retries", () => {
  let dir: string;
  let store: FsArtifactStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-retry-on-"));
    store = await FsArtifactStore.open(dir);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = (worker: StageWorker, yaml: string) => {
    const spec = parsePipeline(yaml, "t.yaml");
    return startRun(
      { store, worker, logger: silentLogger() },
      {
        runId: `r${Math.random().toString(36).slice(2)}`,
        pipeline: spec.name,
        stages: resolvePipeline(spec, {}),
        slots: 2,
        stageJobs: 1,
        signal: new AbortController().signal,
        retryBackoffMs: () => 1,
      },
    );
  };

  void test("retry_on limits what retries retries: exit 1 is not retried, 75 and infra are", async () => {
    const yaml = (script: string) =>
      `pipeline: t\nstages:\n  s: { runner: shell, script: ${script}, outputs: { o: o }, retries: 2, retry_on: [infra, "exit:75"] }\n`;
    const failing = (code: ErrorCode, exitCode?: number) => {
      let n = 0;
      return () => {
        if (++n === 1) throw failure(code, exitCode);
      };
    };
    const w1 = new ScriptedWorker(store, { s: failing("stage_failed", 1) });
    assert.equal((await start(w1, yaml("a")).result).outcome, "failed");
    assert.deepEqual(w1.attempts, [["s", 1]]);
    const w75 = new ScriptedWorker(store, { s: failing("stage_failed", 75) });
    assert.equal((await start(w75, yaml("b")).result).outcome, "succeeded");
    assert.deepEqual(w75.attempts, [
      ["s", 1],
      ["s", 2],
    ]);
    const wInfra = new ScriptedWorker(store, { s: failing("unavailable") });
    assert.equal((await start(wInfra, yaml("c")).result).outcome, "succeeded");
    assert.equal(wInfra.attempts.length, 2);
  });

  void test("a failed stage retried while a sibling runs: it and its dependents run, the run succeeds", async () => {
    let fixed = false;
    let releaseSlow: () => void = () => undefined;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    const w = new ScriptedWorker(store, {
      bad: () => {
        if (!fixed) throw failure("stage_failed", 1);
      },
      slow: () => slowGate,
    });
    const yaml = `pipeline: t
stages:
  bad: { runner: shell, script: bad, outputs: { o: o } }
  after: { runner: shell, script: after, inputs: { x: bad.o }, outputs: { o: o } }
  slow: { runner: shell, script: slow, outputs: { o: o } }
`;
    const run = start(w, yaml);
    assert.throws(
      () => run.retryStage("slow"),
      (e: StagefarmError) => e.code === "invalid_argument",
    );
    assert.throws(
      () => run.retryStage("nope"),
      (e: StagefarmError) => e.code === "not_found",
    );
    // Retry bad as soon as it has failed (until then it is refused: not failed yet).
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if (run.retryStage("bad")) break;
      } catch (err: unknown) {
        if (!(err instanceof StagefarmError) || err.code !== "invalid_argument" || Date.now() > deadline)
          throw err;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(w.attempts.filter(([s]) => s === "slow").length, 1, "slow is still running");
    fixed = true;
    releaseSlow();
    const r = await run.result;
    assert.deepEqual(
      w.attempts.filter(([s]) => s === "bad"),
      [
        ["bad", 1],
        ["bad", 2],
      ],
    );
    assert.equal(r.outcome, "succeeded");
    assert.equal(r.states.get("after")?.t, "done");
    assert.equal(r.states.get("slow")?.t, "done");
    assert.equal(run.retryStage("bad"), false, "an ended run is retried as a finished one");
  });
});
