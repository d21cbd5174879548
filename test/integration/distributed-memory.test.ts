/**
 * The distributed coordinator and agents over the in-process ports: stages spread over agents,
 * labels route stages to pools, a vanished agent's lease expires and its stage runs elsewhere,
 * a late result is rejected, a coordinator restart resumes runs, cancel reaches the process, a
 * retried failed stage runs as its next attempt.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { RunDoc } from "../../coordinator/index.js";
import { buildStage } from "../../coordinator/testing.js";
import { AttemptOutcome } from "../../proto/gen/stagefarm/v1/run_pb.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { marker, processesWith } from "../helpers/leak-probes.js";
import { poll } from "../helpers/poll.js";

async function finished(farm: MemoryFarm, id: string): Promise<RunDoc> {
  return poll(
    async () => {
      const d = await farm.coordinator.getRun(id);
      return d.status === "running" ? undefined : d;
    },
    { timeoutMs: 60_000, what: `run ${id} to finish` },
  );
}

const fanout = (n: number, sleep = "0.2") => `pipeline: fan
stages:
  root:
    runner: shell
    script: mkdir -p out && echo root > out/r
    outputs: { r: out/r }
${Array.from(
  { length: n },
  (_, i) => `  leaf${i}:
    runner: shell
    inputs: { r: { from: root.r, unpack: false } }
    script: mkdir -p out && sleep ${sleep} && echo "leaf${i} on $(cat inputs/r)" > out/o
    outputs: { o: out/o }
`,
).join("")}  join:
    runner: shell
    inputs: { ${Array.from({ length: n }, (_, i) => `l${i}: { from: leaf${i}.o, unpack: false }`).join(", ")} }
    script: mkdir -p out && cat inputs/* > out/all
    outputs: { all: out/all }
`;

describe("distributed farm over in-process ports", () => {
  test("spreads stages over agents, and a rerun is fully cached", async () => {
    await using farm = await MemoryFarm.create();
    for (const id of ["a1", "a2", "a3"]) farm.addAgent(id, ["x86_64"]);
    const run = await farm.coordinator.submit({ yaml: fanout(6), path: "fan.yaml", params: {} });
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    const owners = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const rec = await farm.coordinator.worker.record(run.id, `leaf${i}`);
      assert.equal(rec?.t, "finished");
      if (rec?.t === "finished") owners.add(rec.owner);
    }
    assert.ok(owners.size >= 2, `leaves ran on several agents (${[...owners].join(",")})`);
    const again = await farm.coordinator.submit({ yaml: fanout(6), path: "fan.yaml", params: {} });
    const d2 = await finished(farm, again.id);
    assert.equal(d2.status, "succeeded");
    assert.ok(Object.values(d2.stages).every((s) => s.state === "cached"));
  });

  test("a stage requiring a label waits with a reason until an agent with it connects", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("plain", ["x86_64"]);
    const yaml = `stages:\n  cat:\n    runner: shell\n    requires: [catalyst]\n    script: mkdir -p out && echo hi > out/x\n    outputs: { x: out/x }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "c.yaml", params: {} });
    await poll(
      async () => ((await farm.coordinator.worker.record(run.id, "cat"))?.t === "queued" ? true : undefined),
      { timeoutMs: 5000, what: "queued" },
    );
    await poll(() => (farm.coordinator.agents.list().length > 0 ? true : undefined), {
      timeoutMs: 5000,
      what: "an agent heartbeat",
    });
    const rec = await farm.coordinator.worker.record(run.id, "cat");
    assert.ok(rec !== undefined);
    assert.equal(farm.coordinator.worker.queuedReason(rec), "no agent with labels catalyst");
    farm.addAgent("cat1", ["x86_64", "catalyst"]);
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    const done = await farm.coordinator.worker.record(run.id, "cat");
    assert.ok(done?.t === "finished" && done.owner === "cat1");
  });

  test("an agent that vanishes mid-stage: the lease expires, the stage reruns elsewhere, the late result is rejected", async () => {
    await using farm = await MemoryFarm.create({ leaseMs: 800, heartbeatMs: 100 });
    const yaml = `stages:\n  slow:\n    runner: shell\n    script: mkdir -p out && sleep 2 && echo done > out/x\n    outputs: { x: out/x }\n`;
    const victim = farm.addAgent("victim", ["x86_64"]);
    const run = await farm.coordinator.submit({ yaml, path: "s.yaml", params: {} });
    await poll(
      async () =>
        (await farm.coordinator.worker.record(run.id, "slow"))?.t === "running" ? true : undefined,
      { timeoutMs: 10_000, what: "claim" },
    );
    // Simulate a stall: the victim stops heartbeating but its stage keeps running and reports late.
    victim.stopHeartbeats();
    farm.addAgent("rescuer", ["x86_64"]);
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    const rec = await farm.coordinator.worker.record(run.id, "slow");
    assert.ok(
      rec?.t === "finished" && rec.owner === "rescuer" && rec.dispatch === 2,
      JSON.stringify({ ...rec, job: undefined }),
    );
    await poll(() => (victim.busy === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: "the victim's late finish",
    });
    // The victim's late result must have been rejected: the record still names the rescuer.
    const after = await farm.coordinator.worker.record(run.id, "slow");
    assert.ok(after?.t === "finished" && after.owner === "rescuer");
  });

  test("a coordinator restart mid-run resumes the run and accepts each stage once", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("a1", ["x86_64"]);
    farm.addAgent("a2", ["x86_64"]);
    const run = await farm.coordinator.submit({ yaml: fanout(4, "0.5"), path: "fan.yaml", params: {} });
    await poll(
      async () =>
        (await farm.coordinator.worker.record(run.id, "leaf0"))?.t === "running" ? true : undefined,
      { timeoutMs: 10_000, what: "leaves running" },
    );
    await farm.restartCoordinator();
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    const all = (
      await readFile(
        `${farm.store.root}/cas/sha256/${doc.stages["join"]?.outputs?.["all"]?.digest.slice(0, 2)}/${doc.stages["join"]?.outputs?.["all"]?.digest}`,
        "utf8",
      )
    )
      .trim()
      .split("\n");
    assert.equal(all.length, 4);
  });

  test("a restart with the run's document behind its dispatch records: a stage finished since is executed, not cached", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("a1", ["x86_64"]);
    const run = await farm.coordinator.submit({ yaml: fanout(2, "0.5"), path: "fan.yaml", params: {} });
    // The document as first written: every stage still waiting.
    const stale = await poll(async () => await farm.kv.get(`runs.${run.id}`), {
      timeoutMs: 10_000,
      what: "the run's first document",
    });
    await poll(
      async () =>
        (await farm.coordinator.worker.record(run.id, "root"))?.t === "finished" ? true : undefined,
      { timeoutMs: 10_000, what: "root finished" },
    );
    await farm.coordinator.close();
    // The document is written behind the run: a coordinator killed before its next write leaves
    // this one in KV, while root's dispatch record says finished.
    await farm.kv.put(`runs.${run.id}`, stale.value);
    farm.coordinator = farm.newCoordinator();
    await farm.coordinator.start();
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    assert.equal(doc.stages["root"]?.state, "done", "root attached to its finished dispatch");
    assert.equal((await farm.coordinator.worker.record(run.id, "root"))?.dispatch, 1, "root ran once");
  });

  test("cancel stops the running stage and marks the run cancelled", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("a1", ["x86_64"]);
    const yaml = `stages:\n  long:\n    runner: shell\n    script: sleep 60\n    outputs: { x: out }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "l.yaml", params: {} });
    await poll(
      async () =>
        (await farm.coordinator.worker.record(run.id, "long"))?.t === "running" ? true : undefined,
      { timeoutMs: 10_000, what: "running" },
    );
    await poll(() => (farm.agents.get("a1")?.busy === 1 ? true : undefined), {
      timeoutMs: 10_000,
      what: "agent busy",
    });
    const doc = await farm.coordinator.cancel(run.id);
    assert.equal(doc.status, "cancelled");
    await poll(() => (farm.agents.get("a1")?.busy === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: "the agent to stop the stage",
    });
  });
  test("retry runs a failed stage as its next attempt, keeping the failed attempt's log", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("a1", ["x86_64"]);
    const fixed = join(farm.dir, "fixed");
    const yaml = `stages:\n  flaky:\n    runner: shell\n    script: test -f ${fixed} && mkdir -p out && echo ok > out/x\n    outputs: { x: out/x }\n  after:\n    runner: shell\n    inputs: { x: { from: flaky.x, unpack: false } }\n    script: mkdir -p out && cp inputs/x out/y\n    outputs: { y: out/y }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "f.yaml", params: {} });
    const failed = await finished(farm, run.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.stages["flaky"]?.attempt, 1);
    assert.equal(failed.stages["after"]?.state, "skipped");

    await writeFile(fixed, "");
    await farm.coordinator.retry(run.id, "flaky");
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    assert.deepEqual(
      [doc.stages["flaky"]?.state, doc.stages["flaky"]?.attempt, doc.stages["flaky"]?.logPath],
      ["done", 2, `logs/${run.id}/flaky/2.log`],
    );
    assert.equal(doc.stages["after"]?.state, "done");
    const rec = await farm.coordinator.worker.record(run.id, "flaky");
    assert.ok(rec?.t === "finished" && rec.attempt === 2 && rec.result.ok);
    // Both attempts' logs are kept.
    const logs = [];
    for await (const l of farm.store.listLogs(`logs/${run.id}/flaky/`)) logs.push(l.path);
    // Each with its line-times index (shared/log-times.ts).
    assert.deepEqual(logs.sort(), [
      `logs/${run.id}/flaky/1.log`,
      `logs/${run.id}/flaky/1.log.times`,
      `logs/${run.id}/flaky/2.log`,
      `logs/${run.id}/flaky/2.log.times`,
    ]);

    // The run's record keeps both attempts with their agents, and a restarted coordinator
    // shows them (the dashboard's view of the stage, built from the record alone).
    const history = (d: RunDoc) =>
      (d.stages["flaky"]?.attempts ?? []).map((a) => [
        a.n,
        a.outcome,
        a.agent,
        a.error?.includes("status 1"),
      ]);
    const expected = [
      [1, "failed", "a1", true],
      [2, "succeeded", "a1", undefined],
    ];
    assert.deepEqual(history(doc), expected);
    await farm.restartCoordinator();
    const reloaded = await farm.coordinator.getRun(run.id);
    assert.deepEqual(history(reloaded), expected);
    const flaky = reloaded.stages["flaky"];
    assert.ok(flaky !== undefined);
    const view = buildStage(run.id, "flaky", flaky, undefined);
    assert.deepEqual(
      view.attempts.map((a) => [a.number, a.agent, a.outcome, a.startedAt !== undefined, a.logPath]),
      [
        [1, "a1", AttemptOutcome.FAILED, true, `logs/${run.id}/flaky/1.log`],
        [2, "a1", AttemptOutcome.SUCCEEDED, true, `logs/${run.id}/flaky/2.log`],
      ],
    );
  });
  test("a stage retried while its cancelled dispatch winds down on the same agent: each is cancelled on its own", async () => {
    await using farm = await MemoryFarm.create();
    const agent = farm.addAgent("a1", ["x86_64"], 2);
    const m = marker();
    // On SIGTERM the script takes 2 s to end: the first dispatch is still ending when the second starts.
    const yaml = `stages:\n  s:\n    runner: shell\n    script: |\n      trap 'sleep 2; exit 1' TERM\n      sleep ${m} &\n      wait\n    outputs: { o: out }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "s.yaml", params: {} });
    const running = (dispatch: number) =>
      poll(
        async () => {
          const rec = await farm.coordinator.worker.record(run.id, "s");
          return rec?.t === "running" && rec.dispatch === dispatch ? true : undefined;
        },
        { timeoutMs: 10_000, what: `dispatch ${dispatch} running` },
      );
    await running(1);
    await poll(async () => (await processesWith(m)).length === 1 || undefined, {
      timeoutMs: 10_000,
      what: "the sleep",
    });
    assert.equal((await farm.coordinator.cancel(run.id)).status, "cancelled");
    await farm.coordinator.retry(run.id, "s");
    await running(2);
    assert.equal(agent.busy, 2, "the first dispatch is still ending while the second runs");
    await poll(() => agent.busy === 1 || undefined, { timeoutMs: 10_000, what: "the first dispatch to end" });
    // The second dispatch is still known to the agent: cancelling it stops its process.
    await poll(async () => (await processesWith(m)).length === 1 || undefined, {
      timeoutMs: 10_000,
      what: "one sleep",
    });
    assert.equal((await farm.coordinator.cancel(run.id)).status, "cancelled");
    await poll(async () => (await processesWith(m)).length === 0 || undefined, {
      timeoutMs: 10_000,
      what: "the retried stage's process to be killed",
    });
    await poll(() => agent.busy === 0 || undefined, { timeoutMs: 10_000, what: "the agent to be idle" });
    // The retry was the stage's second attempt: both are in the run's record.
    const doc = await farm.coordinator.getRun(run.id);
    assert.deepEqual(
      doc.stages["s"]?.attempts?.map((a) => [a.n, a.outcome, a.agent]),
      [
        [1, "cancelled", "a1"],
        [2, "cancelled", "a1"],
      ],
    );
  });
});
