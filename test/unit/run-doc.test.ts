/** The stage states the API shows (a stage in retry backoff says until when) and the attempt
 *  history a stage document keeps. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nextStageDoc, stageDocOf } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";

test("a ready stage in retry backoff carries the reason with its time; a plain ready one none", () => {
  const key = "a".repeat(64);
  const at = Date.UTC(2026, 10, 26, 3, 30, 0);
  assert.deepEqual(stageDocOf({ t: "ready", key, attempt: 2, readyAt: at - 1000, retryAt: at }), {
    state: "ready",
    key,
    attempt: 2,
    reason: "retry backoff until 2026-11-26T03:30:00.000Z",
  });
  assert.equal(stageDocOf({ t: "ready", key, attempt: 1, readyAt: at }).reason, undefined);
  assert.equal(stageDocOf({ t: "waiting", reason: "waiting for build" }).reason, "waiting for build");
});

test("a stage's document keeps its finished attempts across retries, waits and cache hits", () => {
  const key = "b".repeat(64);
  const t0 = Date.UTC(2026, 10, 26, 8, 0, 0);
  const failure = new StagefarmError("stage_failed", "script exited with status 1", {
    details: { agent: "a1" },
  });
  let doc = nextStageDoc(undefined, { t: "waiting", reason: "waiting for src" }, undefined, t0);
  assert.equal(doc.attempts, undefined);
  doc = nextStageDoc(doc, { t: "running", key, attempt: 1, startedAt: t0 + 1000 }, undefined, t0 + 1000);
  // A retryable failure: the stage is ready again, the failed attempt recorded with its agent.
  doc = nextStageDoc(
    doc,
    { t: "ready", key, attempt: 2, readyAt: t0 + 5000, retryAt: t0 + 15_000, failure },
    undefined,
    t0 + 5000,
  );
  assert.deepEqual(doc.attempts, [
    {
      n: 1,
      outcome: "failed",
      agent: "a1",
      startedAt: t0 + 1000,
      finishedAt: t0 + 5000,
      error: "script exited with status 1",
    },
  ]);
  doc = nextStageDoc(doc, { t: "running", key, attempt: 2, startedAt: t0 + 15_000 }, undefined, t0 + 15_000);
  const outputs = { o: { digest: "c".repeat(64), size: 3, kind: "file" as const } };
  doc = nextStageDoc(
    doc,
    { t: "done", key, outputs, attempt: 2, durationMs: 4000, logPath: "logs/r/s/2.log", agent: "a2" },
    undefined,
    t0 + 20_000,
  );
  assert.equal(doc.state, "done");
  assert.deepEqual(
    doc.attempts?.map((a) => [a.n, a.outcome, a.agent, a.startedAt, a.finishedAt]),
    [
      [1, "failed", "a1", t0 + 1000, t0 + 5000],
      [2, "succeeded", "a2", t0 + 16_000, t0 + 20_000],
    ],
  );
  // Run again (a retry): waiting, then a cache hit of what it executed: still done, history kept.
  const executed = doc;
  doc = nextStageDoc(doc, { t: "waiting", reason: "waiting" }, executed, t0 + 30_000);
  assert.equal(doc.attempts?.length, 2);
  doc = nextStageDoc(doc, { t: "cached", key, outputs, durationMs: 4000 }, executed, t0 + 31_000);
  assert.equal(doc.state, "done");
  assert.equal(doc.attempts?.length, 2);
  // The same attempt ending twice (a resumed run) is recorded once.
  const again = nextStageDoc(
    { ...doc, state: "running", attempt: 2, startedAt: t0 + 15_000 },
    { t: "done", key, outputs, attempt: 2, durationMs: 4000, logPath: "logs/r/s/2.log", agent: "a2" },
    undefined,
    t0 + 40_000,
  );
  assert.deepEqual(
    again.attempts?.map((a) => a.n),
    [1, 2],
  );
  // Cancelled while running: that attempt is cancelled; cancelled while waiting adds none.
  const cancelled = nextStageDoc(
    { state: "running", key, attempt: 1, startedAt: t0 },
    { t: "cancelled", reason: "run cancelled" },
    undefined,
    t0 + 2000,
  );
  assert.deepEqual(cancelled.attempts, [
    { n: 1, outcome: "cancelled", startedAt: t0, finishedAt: t0 + 2000 },
  ]);
  assert.equal(
    nextStageDoc({ state: "waiting" }, { t: "cancelled", reason: "run cancelled" }, undefined, t0).attempts,
    undefined,
  );
  // A timeout is its own outcome.
  const timedOut = nextStageDoc(
    { state: "running", key, attempt: 1, startedAt: t0 },
    {
      t: "failed",
      key,
      attempt: 1,
      error: new StagefarmError("timeout", "timed out after 1s"),
      durationMs: 1000,
    },
    undefined,
    t0 + 1000,
  );
  assert.equal(timedOut.attempts?.[0]?.outcome, "timed_out");
});
