/** The stage states the API shows: a stage in retry backoff says until when. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { stageDocOf } from "../../coordinator/service/run-doc.js";

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
