/**
 * Re-running from failure on a farm over the in-process ports (real agents and shell stages):
 * a failed stage retried while a sibling branch still runs, `retry_on` decided from the
 * agent's reported exit status, an agent lost mid-stage, undrain, and a kept failed workspace.
 */
import assert from "node:assert/strict";
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { StageExecutor } from "../../agent/index.js";
import type { RunDoc } from "../../coordinator/index.js";
import { silentLogger } from "../../shared/log.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { poll } from "../helpers/poll.js";

async function finished(farm: MemoryFarm, id: string): Promise<RunDoc> {
  return poll(
    async () => {
      const d = await farm.coordinator.getRun(id);
      return d.status === "running" ? undefined : d;
    },
    { timeoutMs: 30_000, what: `run ${id} to finish` },
  );
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

void describe("re-run from failure", () => {
  void test("a failed stage retried while a sibling runs: it and its dependents run, the run succeeds", async () => {
    await using farm = await MemoryFarm.create();
    farm.addAgent("a1", ["x86_64"], 2);
    const fixed = join(farm.dir, "fixed");
    const release = join(farm.dir, "release");
    const yaml = `stages:
  bad:
    runner: shell
    script: test -f ${fixed} && mkdir -p out && echo ok > out/x
    outputs: { x: out/x }
  after:
    runner: shell
    inputs: { x: { from: bad.x, unpack: false } }
    script: mkdir -p out && cp inputs/x out/y
    outputs: { y: out/y }
  slow:
    runner: shell
    script: while [ ! -f ${release} ]; do sleep 0.05; done; mkdir -p out && echo slow > out/z
    outputs: { z: out/z }
`;
    const run = await farm.coordinator.submit({ yaml, path: "r.yaml", params: {} });
    await poll(
      async () =>
        (await farm.coordinator.getRun(run.id)).stages["after"]?.state === "skipped" ? true : undefined,
      { timeoutMs: 20_000, what: "bad to fail and after to be skipped" },
    );
    const during = await farm.coordinator.getRun(run.id);
    assert.equal(during.status, "running");
    assert.equal(during.stages["slow"]?.state, "running");
    assert.equal(during.stages["bad"]?.state, "failed");

    await assert.rejects(farm.coordinator.retry(run.id, "slow"), /only its failed stages are retried/);
    await writeFile(fixed, "");
    const retried = await farm.coordinator.retry(run.id, "bad");
    assert.equal(retried.status, "running");
    assert.notEqual(retried.stages["bad"]?.state, "failed");
    assert.equal(retried.stages["after"]?.state, "waiting");
    await poll(
      async () =>
        (await farm.coordinator.getRun(run.id)).stages["after"]?.state === "done" ? true : undefined,
      { timeoutMs: 20_000, what: "after to run while slow still runs" },
    );
    assert.equal((await farm.coordinator.getRun(run.id)).stages["slow"]?.state, "running");
    await writeFile(release, "");
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    assert.deepEqual(
      doc.stages["bad"]?.attempts?.map((a) => [a.n, a.outcome]),
      [
        [1, "failed"],
        [2, "succeeded"],
      ],
    );
  });

  void test("retry_on: exit 1 is not retried with [infra], 75 is with exit:75 (the agent's exit status)", async () => {
    await using farm = await MemoryFarm.create({ retryBackoffMs: () => 10 });
    farm.addAgent("a1", ["x86_64"], 2);
    const once = join(farm.dir, "once");
    const yaml = `stages:
  compile:
    runner: shell
    retries: 2
    retry_on: [infra]
    script: exit 1
  tempfail:
    runner: shell
    retries: 2
    retry_on: [infra, "exit:75"]
    script: test -f ${once} || { touch ${once}; exit 75; }
`;
    const run = await farm.coordinator.submit({ yaml, path: "r.yaml", params: {} });
    const doc = await finished(farm, run.id);
    assert.equal(doc.stages["compile"]?.state, "failed");
    assert.equal(doc.stages["compile"]?.attempt, 1, "a compile error is tried once");
    assert.equal(doc.stages["tempfail"]?.state, "done");
    assert.equal(doc.stages["tempfail"]?.attempt, 2);
  });

  void test("an agent lost mid-stage is an infrastructure failure: the stage runs elsewhere", async () => {
    await using farm = await MemoryFarm.create({ leaseMs: 600, heartbeatMs: 100 });
    const victim = farm.addAgent("victim", ["x86_64"]);
    // No retries left and exit statuses only: the lost agent spends no attempt.
    const yaml = `stages:\n  s:\n    runner: shell\n    retries: 0\n    retry_on: ["exit:75"]\n    script: sleep 1; mkdir -p out && echo x > out/x\n    outputs: { x: out/x }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "s.yaml", params: {} });
    await poll(
      async () => ((await farm.coordinator.worker.record(run.id, "s"))?.t === "running" ? true : undefined),
      {
        timeoutMs: 10_000,
        what: "the victim's claim",
      },
    );
    victim.stopHeartbeats();
    farm.addAgent("rescuer", ["x86_64"]);
    const doc = await finished(farm, run.id);
    assert.equal(doc.status, "succeeded");
    const rec = await farm.coordinator.worker.record(run.id, "s");
    assert.ok(rec?.t === "finished" && rec.owner === "rescuer" && rec.attempt === 1);
    await poll(() => (victim.busy === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: "the victim to end",
    });
  });

  void test("undrain gives a drained agent stages again", async () => {
    await using farm = await MemoryFarm.create();
    const agent = farm.addAgent("a1", ["x86_64"]);
    await poll(() => farm.coordinator.agents.get("a1"), { timeoutMs: 10_000, what: "a heartbeat" });
    assert.equal(farm.coordinator.drain("a1"), true);
    await poll(() => (agent.isDraining ? true : undefined), { timeoutMs: 10_000, what: "the drain" });
    const yaml = `stages:\n  s:\n    runner: shell\n    script: mkdir -p out && echo x > out/x\n    outputs: { x: out/x }\n`;
    const run = await farm.coordinator.submit({ yaml, path: "s.yaml", params: {} });
    await poll(
      async () => ((await farm.coordinator.worker.record(run.id, "s"))?.t === "queued" ? true : undefined),
      {
        timeoutMs: 10_000,
        what: "the stage queued",
      },
    );
    assert.equal(farm.coordinator.agents.get("a1")?.state, "draining");
    assert.equal(farm.coordinator.undrain("nobody"), false);
    assert.equal(farm.coordinator.undrain("a1"), true);
    assert.notEqual(farm.coordinator.agents.get("a1")?.state, "draining");
    assert.equal((await finished(farm, run.id)).status, "succeeded");
    assert.equal(agent.isDraining, false);
    // A drain for a shutdown is never undone.
    await agent.drain(0);
    await agent.undrain();
    assert.equal(agent.isDraining, true);
  });

  void test("--keep-failed-workspaces keeps the failed stage's directory, named in its error, past a sweep", async () => {
    await using farm = await MemoryFarm.create();
    const workRoot = join(farm.dir, "work", "keeper");
    const executor = () =>
      new StageExecutor({ store: farm.store, workRoot, logger: silentLogger(), keepFailedWorkspace: true });
    farm.addAgent("keeper", ["x86_64"], 1, executor());
    const yaml = `stages:\n  s:\n    runner: shell\n    script: echo evidence > left-here; exit 3\n`;
    const run = await farm.coordinator.submit({ yaml, path: "s.yaml", params: {} });
    const doc = await finished(farm, run.id);
    const message = doc.stages["s"]?.error?.message ?? "";
    const kept = /\(workspace kept at (\S+)\)$/.exec(message)?.[1];
    assert.ok(kept !== undefined, message);
    assert.equal(await readFile(join(kept, "left-here"), "utf8"), "evidence\n");
    // A later agent on the same work directory sweeps what a dead one left, but not this.
    const stale = join(workRoot, "dead-agent-leftover");
    await writeFile(join(workRoot, "orphan.kept"), "");
    await farm.agents.get("keeper")?.close();
    await mkdir(stale);
    const swept = await executor().sweepStaleWork();
    assert.equal(swept.workspaces, 1);
    assert.equal(await exists(stale), false);
    assert.equal(await exists(kept), true);
    assert.deepEqual(
      (await readdir(workRoot)).filter((n) => n.endsWith(".kept")).length,
      1,
      "the orphan marker went",
    );
  });
});
