/**
 * The dispatch exclusion of a reproducibility check's second build, on the in-process farm
 * (real coordinator, agents and executors over the memory ports): the job names the first
 * build's agent, whose claim the coordinator refuses; while no other agent can run it the
 * second build waits with its reason and the run keeps running, also through a coordinator
 * restart; another agent then runs it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { poll } from "../helpers/poll.js";

const yaml = `stages:
  pinned:
    runner: shell
    script: mkdir -p out && echo same > out/x
    outputs: { x: out/x }
`;

test("the second build is fenced from the first build's agent and waits, visibly, for another", async () => {
  await using farm = await MemoryFarm.create();
  farm.addAgent("a1", ["x86_64"]);
  const run = await farm.coordinator.submit({
    yaml,
    path: "p.yaml",
    params: {},
    repro: { stages: ["pinned"], strict: false },
  });
  const rec = await poll(
    async () => {
      const r = await farm.coordinator.worker.record(run.id, "pinned");
      return r?.t === "queued" && r.attempt === 2 ? r : undefined;
    },
    { timeoutMs: 20_000, what: "the second build queued" },
  );
  assert.deepEqual(rec.job.exclude, ["a1"]);
  assert.equal(
    farm.coordinator.worker.queuedReason(rec),
    "waiting for an agent other than a1 (the first build's) with labels (any): only it can run it now",
  );
  // The fence: the first build's agent may not claim it, even with the job's ticket.
  const claim = await farm.coordinator.worker.handleClaim({
    v: 1,
    agentId: "a1",
    runId: run.id,
    stage: "pinned",
    dispatch: rec.dispatch,
    ...(rec.job.ticket === undefined ? {} : { ticket: rec.job.ticket }),
  });
  assert.deepEqual(claim, {
    ok: false,
    reason: "agent a1 may not run this dispatch (it built the first build)",
  });
  const waiting = await farm.coordinator.getRun(run.id);
  assert.equal(waiting.status, "running");
  assert.equal(waiting.repro?.verdicts["pinned"]?.state, "building");

  // A restarted coordinator resumes the check on the same dispatch (its attempt is derived).
  await farm.restartCoordinator();
  const resumed = await poll(
    async () => {
      const r = await farm.coordinator.worker.record(run.id, "pinned");
      return farm.coordinator.activeRunIds().includes(run.id) && r?.t === "queued" ? r : undefined;
    },
    { timeoutMs: 20_000, what: "the run resumed" },
  );
  assert.equal(resumed.attempt, 2);
  assert.equal(resumed.dispatch, rec.dispatch, "attached, not dispatched again");

  farm.addAgent("a2", ["x86_64"]);
  const doc = await poll(
    async () => {
      const d = await farm.coordinator.getRun(run.id);
      return d.status === "running" ? undefined : d;
    },
    { timeoutMs: 30_000, what: "the run to finish" },
  );
  assert.equal(doc.status, "succeeded");
  const v = doc.repro?.verdicts["pinned"];
  assert.equal(v?.state, "reproducible");
  assert.equal(v.first.agent, "a1");
  assert.equal(v.second?.agent, "a2");
  const finished = await farm.coordinator.worker.record(run.id, "pinned");
  assert.ok(finished?.t === "finished" && finished.owner === "a2" && finished.attempt === 2);
  assert.deepEqual(
    finished.history?.map((h) => [h.attempt, h.agent, h.end]),
    [[1, "a1", "finished"]],
    "the dispatch history keeps the first build's agent",
  );
});
