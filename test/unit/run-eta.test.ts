import assert from "node:assert/strict";
import { test } from "node:test";
import { runEta } from "../../shared/pipeline/index.js";
import { type EtaStage } from "../../shared/pipeline/testing.js";

const H = 3_600_000;
const st = (
  name: string,
  after: string[],
  expectedMs: number,
  state: EtaStage["state"] = "pending",
  elapsedMs?: number,
): EtaStage => ({ name, after, expectedMs, state, ...(elapsedMs === undefined ? {} : { elapsedMs }) });

test("runEta: a chain sums what remains; a running stage counts expected minus elapsed", () => {
  const eta = runEta([
    st("seed", [], 2 * H, "finished"),
    st("stage1", ["seed"], 3 * H, "running", H),
    st("stage3", ["stage1"], 4 * H),
  ]);
  assert.equal(eta.remainingMs, 2 * H + 4 * H);
  assert.deepEqual(eta.criticalPath, ["stage1", "stage3"]);
  assert.deepEqual(eta.overdue, []);
});

test("runEta: parallel branches take the longest without a slot limit, and queue on one slot", () => {
  const stages = [
    st("a", [], 10_000),
    st("b", [], 30_000),
    st("c", [], 20_000),
    st("end", ["a", "b", "c"], 5_000),
  ];
  const wide = runEta(stages);
  assert.equal(wide.remainingMs, 35_000);
  assert.deepEqual(wide.criticalPath, ["b", "end"]);
  assert.equal(runEta(stages, 1).remainingMs, 65_000);
  // Two slots: b and c (the highest paths) start; a at 20 s; end after b at 30 s.
  assert.equal(runEta(stages, 2).remainingMs, 35_000);
});

test("runEta: a list schedule on two slots starts the highest remaining path first", () => {
  const stages = [
    st("short1", [], 10_000),
    st("short2", [], 10_000),
    st("long", [], 10_000),
    st("long-next", ["long"], 40_000),
  ];
  // long first (its path is 50 s): long+short1 at 0, short2 and long-next at 10 s, end at 50 s.
  assert.equal(runEta(stages, 2).remainingMs, 50_000);
});

test("runEta: running stages hold their slots; an overdue one is listed and counts 0", () => {
  const eta = runEta(
    [st("x", [], 60_000, "running", 90_000), st("y", [], 60_000, "running", 30_000), st("z", [], 60_000)],
    2,
  );
  assert.deepEqual(eta.overdue, ["x"]);
  // x is expected to end now, y in 30 s: z starts at 0 on x's slot and ends at 60 s.
  assert.equal(eta.remainingMs, 60_000);
});

test("runEta: a finished run has nothing left; unknown upstream names and cycles do not hang", () => {
  assert.deepEqual(runEta([st("a", [], 5_000, "finished")]), {
    remainingMs: 0,
    criticalPath: [],
    overdue: [],
  });
  assert.deepEqual(runEta([]), { remainingMs: 0, criticalPath: [], overdue: [] });
  const odd = runEta([st("a", ["ghost", "a"], 1_000), st("b", ["c"], 1_000), st("c", ["b"], 1_000)], 1);
  assert.equal(odd.remainingMs, 1_000);
  const bad = runEta([st("a", [], Number.NaN), st("b", [], -5)]);
  assert.equal(bad.remainingMs, 0);
});
