/**
 * Faults injected into a distributed farm of real processes: an agent SIGKILLed mid-stage (its
 * lease expires, the stage reruns elsewhere), the coordinator SIGKILLed mid-run and started
 * again (the run resumes, each stage is accepted once), and an agent stalled with SIGSTOP past
 * its lease (the stage completes elsewhere; after SIGCONT its late result is rejected).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import {
  fanoutExpected,
  fanoutPipeline,
  withFarm,
  type FarmProcess,
  type FarmProcesses,
  type RunSummary,
} from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

const slow = (token: string, seconds: number) => `pipeline: slow
stages:
  slow:
    runner: shell
    script: mkdir -p out && sleep ${seconds} && echo "slow ${token}" > out/x
    outputs: { x: out/x }
`;

async function show(farm: FarmProcesses, run: string): Promise<RunSummary> {
  return farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
}

async function finished(farm: FarmProcesses, run: string, ms = 60_000): Promise<RunSummary> {
  return poll(
    async () => {
      const s = await show(farm, run);
      return s.status === "running" ? undefined : s;
    },
    { timeoutMs: ms, what: `run ${run} to finish`, intervalMs: 100 },
  );
}

const records = (p: FarmProcess | undefined, msg: string) =>
  (p?.logRecords ?? []).filter((r) => r["msg"] === msg);
/** The agent service's "stage succeeded" records (one per reported result; the executor logs its own). */
const successes = (p: FarmProcess | undefined) =>
  records(p, "stage succeeded").filter((r) => r["component"] === "agent");

describe("distributed farm faults (processes)", () => {
  test("an agent SIGKILLed mid-stage: the lease expires and the stage reruns on another agent", async () => {
    await withFarm({ agents: [{ id: "a1" }, { id: "a2" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("slow.yaml", slow(token, 4));
      const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      const { agent: victim } = await farm.runningStage(run, ["slow"]);
      const rescuer = victim === "a1" ? "a2" : "a1";
      await farm.killAgent(victim, "SIGKILL");

      const done = await finished(farm, run);
      assert.equal(done.status, "succeeded");
      assert.equal(done.results["slow"]?.state, "done");
      assert.equal(done.results["slow"]?.agent, rescuer);
      assert.equal(done.results["slow"]?.outputs["x"]?.digest, sha256(`slow ${token}\n`));
      assert.ok(
        records(farm.coordinator, `stage dispatched again: lease of ${victim} expired`).length >= 1,
        "the coordinator dispatched the stage again because the victim's lease expired",
      );
      assert.ok((await farm.metric("stagefarm_leases_expired_total")) >= 1);
      assert.equal(successes(farm.agents.get(rescuer)).length, 1);
    });
  });

  test("the coordinator SIGKILLed mid-run and started again: the run completes, each stage accepted once", async () => {
    await withFarm({ agents: [{ id: "a1" }, { id: "a2" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("fan.yaml", fanoutPipeline(token, 4, 2));
      const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      await farm.runningStage(
        run,
        Array.from({ length: 4 }, (_, i) => `leaf${i}`),
      );
      const succeeded = () => [...farm.agents.values()].reduce((n, a) => n + successes(a).length, 0);
      const before = succeeded();
      await farm.killCoordinator("SIGKILL");
      // While no coordinator runs, an agent finishes a stage: its result waits in the durable stream.
      await poll(() => (succeeded() > before ? true : undefined), {
        timeoutMs: 30_000,
        what: "a stage to finish while the coordinator is down",
        intervalMs: 100,
      });
      await farm.startCoordinator();

      const done = await finished(farm, run);
      assert.equal(done.status, "succeeded");
      assert.deepEqual(done.stages, { executed: 6, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
      const expected = fanoutExpected(token, 4);
      assert.equal(done.results["join"]?.outputs["all"]?.digest, sha256(expected));

      // Every stage was accepted from exactly one report: any other report of it was rejected.
      const coordinators = farm.processes.filter((p) => p.name.startsWith("coordinator"));
      const rejected = coordinators.flatMap((c) =>
        records(c, "rejected a result from an agent that does not own the current dispatch"),
      );
      for (const [stage, result] of Object.entries(done.results)) {
        assert.equal(result.state, "done", `${stage} is done`);
        const reports = [...farm.agents.values()].flatMap((a) =>
          successes(a).filter((r) => r["run"] === run && r["stage"] === stage),
        );
        const reporters = reports.map((r) => `${String(r["agent"])}#${String(r["dispatch"])}`);
        assert.ok(
          result.agent !== undefined && reporters.some((r) => r.startsWith(`${result.agent}#`)),
          `${stage}: the accepted agent ${result.agent ?? "?"} reported it (${reporters.join(",")})`,
        );
        const refused = rejected.filter((r) => r["key"] === `stages.${run}.${stage}`);
        assert.ok(
          reports.length - 1 <= refused.length,
          `${stage}: ${reports.length} reports, ${refused.length} rejected: at most one accepted`,
        );
      }
      const restarted = farm.coordinator;
      assert.equal(
        await farm.metric("stagefarm_stale_results_total"),
        records(restarted, "rejected a result from an agent that does not own the current dispatch").length,
        "the stale-result metric counts the rejections the coordinator logged",
      );
      assert.ok(
        records(restarted, "resuming run after restart").some((r) => r["run"] === run),
        "the new coordinator resumed the run from KV",
      );
    });
  });

  test("an agent stalled past its lease (SIGSTOP): the stage completes elsewhere and its late result is rejected", async () => {
    await withFarm({ agents: [{ id: "a1" }, { id: "a2" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("slow.yaml", slow(token, 4));
      const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      const { agent: victim } = await farm.runningStage(run, ["slow"]);
      const rescuer = victim === "a1" ? "a2" : "a1";
      farm.stopAgent(victim);

      const done = await finished(farm, run);
      assert.equal(done.status, "succeeded");
      assert.equal(done.results["slow"]?.agent, rescuer);
      assert.equal(await farm.metric("stagefarm_stale_results_total"), 0);

      farm.contAgent(victim);
      await poll(async () => ((await farm.metric("stagefarm_stale_results_total")) >= 1 ? true : undefined), {
        timeoutMs: 30_000,
        what: "the stalled agent's late result to be rejected",
        intervalMs: 100,
      });
      const rejected = records(
        farm.coordinator,
        "rejected a result from an agent that does not own the current dispatch",
      );
      assert.ok(
        rejected.some(
          (r) => r["agent"] === victim && r["key"] === `stages.${run}.slow` && r["dispatch"] === 1,
        ),
        `the victim's result for dispatch 1 was rejected: ${JSON.stringify(rejected)}`,
      );
      assert.equal(successes(farm.agents.get(victim)).length, 1, "the victim did finish");
      const after = await show(farm, run);
      assert.equal(after.status, "succeeded");
      assert.equal(after.results["slow"]?.agent, rescuer, "the run still names the rescuer");
      assert.equal(after.results["slow"]?.outputs["x"]?.digest, sha256(`slow ${token}\n`));
    });
  });
});
