/**
 * The dashboard's run JSON carries each stage's expected duration and, for a running run, the
 * ETA of what remains (shared/pipeline/run-eta.ts over the stages' states and start times).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRun, buildStage, shapeOf } from "../../coordinator/testing.js";
import type { RunDoc } from "../../coordinator/index.js";

const yaml = `pipeline: eta
stages:
  seed:
    runner: shell
    estimate: 2m
    script: "true"
    outputs: { out: out }
  stage1:
    runner: shell
    estimate: 10m
    inputs: { s: seed.out }
    script: "true"
    outputs: { out: out }
  stage3:
    runner: shell
    inputs: { s: stage1.out }
    script: "true"
`;

test("a running run's JSON: expected per stage and the ETA along what remains", () => {
  const now = 1_000_000_000;
  const doc: RunDoc = {
    v: 1,
    id: "r1",
    pipeline: "eta",
    path: "eta.yaml",
    yaml,
    params: {},
    status: "running",
    createdAt: now - 300_000,
    stages: {
      seed: { state: "done", attempt: 1, startedAt: now - 300_000, durationMs: 120_000 },
      stage1: { state: "running", attempt: 1, startedAt: now - 240_000 },
      stage3: { state: "waiting", reason: "waiting for stage1" },
    },
  };
  const shape = shapeOf(doc);
  assert.deepEqual(
    [...(shape.estimates ?? [])],
    [
      ["seed", 120_000],
      ["stage1", 600_000],
    ],
  );
  // What ExpectedDurations gives without history: the estimates, else one minute.
  shape.expected = new Map([
    ["seed", 120_000],
    ["stage1", 600_000],
    ["stage3", 60_000],
  ]);
  const stages = shape.names.map((n) => buildStage("r1", n, doc.stages[n] ?? { state: "waiting" }, shape));
  assert.deepEqual(
    stages.map((s) => s.expectedMs),
    [120_000, 600_000, 60_000],
  );
  const run = buildRun(doc, stages, { withStages: true, now });
  // stage1: 10m expected, 4m run → 6m left; then stage3's minute.
  assert.equal(run.etaMs, 360_000 + 60_000);
  const done = buildRun({ ...doc, status: "succeeded", finishedAt: now }, stages, { withStages: true, now });
  assert.equal(done.etaMs, 0, "a finished run has no ETA");
});
