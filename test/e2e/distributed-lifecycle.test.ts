/**
 * A distributed farm of real processes through a cancel and a NATS outage: `cancel` reaches the
 * stage's process on its agent (killed, nothing left in /proc) and the watching client ends
 * cancelled; a nats-server restart mid-run (same port and store) does not fail the run.
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
import { processesWith } from "../helpers/leak-probes.js";
import { poll } from "../helpers/poll.js";

/** Starts `submit FILE --watch --json`; resolves with the client and the run's id. */
async function submitWatching(
  farm: FarmProcesses,
  file: string,
): Promise<{ client: FarmProcess; run: string }> {
  const client = farm.spawnCli(["submit", file, "--watch", "--json"]);
  const m = await farm.waitForLog(client, /submitted run (\S+)/);
  return { client, run: m[1] ?? "" };
}

function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split("\n").pop() ?? "") as T;
}

describe("distributed farm lifecycle (processes)", () => {
  test("cancel kills the stage's process on its agent and the run ends cancelled", async () => {
    await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
      const marker = `sf-e2e-cancel-${randomBytes(5).toString("hex")}`;
      const file = await farm.writePipeline(
        "long.yaml",
        `pipeline: long
stages:
  long:
    runner: shell
    script: mkdir -p out && bash -c 'exec -a ${marker} sleep 300'
    outputs: { x: out }
`,
      );
      const { client, run } = await submitWatching(farm, file);
      assert.equal((await farm.runningStage(run, ["long"])).agent, "a1");
      const running = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
      assert.equal(running.status, "running");
      assert.deepEqual([running.results["long"]?.state, running.results["long"]?.agent], ["running", "a1"]);
      const pids = await poll(
        async () => {
          const p = await processesWith(marker, { match: "argv0" });
          return p.length > 0 ? p : undefined;
        },
        { timeoutMs: 20_000, what: `the stage's process ${marker} to start`, intervalMs: 100 },
      );
      assert.equal(pids.length, 1, pids.join("\n"));

      const cancelled = await farm.cliJson<RunSummary>(["cancel", run, "--json"]);
      assert.equal(cancelled.status, "cancelled");
      assert.equal(cancelled.results["long"]?.state, "cancelled");
      await poll(
        async () => ((await processesWith(marker, { match: "substring" })).length === 0 ? true : undefined),
        { timeoutMs: 20_000, what: `no process with ${marker} to be left`, intervalMs: 100 },
      );

      assert.equal((await client.ended(30_000)).code, 130, "the watching client exits 130");
      assert.equal(lastJson<RunSummary>(client.stdout).status, "cancelled");
      const shown = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
      assert.equal(shown.status, "cancelled");
      assert.deepEqual(shown.stages, { executed: 0, cached: 0, failed: 0, skipped: 0, cancelled: 1 });
      await farm.waitForLog(
        farm.agents.get("a1") ?? assert.fail("no a1"),
        /stage cancelled by the coordinator/,
      );

      // The agent's slot is free again: the next run runs on it.
      const next = await farm.writePipeline(
        "next.yaml",
        "pipeline: next\nstages:\n  a:\n    runner: shell\n    script: mkdir -p out && echo next > out/x\n    outputs: { x: out/x }\n",
      );
      const after = await farm.cliJson<RunSummary>(["submit", next, "--watch", "--json"]);
      assert.equal(after.status, "succeeded");
      assert.equal(after.results["a"]?.agent, "a1");
    });
  });

  test("a nats-server restart mid-run does not fail the run", async () => {
    await withFarm({ agents: [{ id: "a1" }, { id: "a2" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const leaves = 4;
      const file = await farm.writePipeline("fan.yaml", fanoutPipeline(token, leaves, 3));
      const { client, run } = await submitWatching(farm, file);
      await farm.runningStage(
        run,
        Array.from({ length: leaves }, (_, i) => `leaf${i}`),
      );
      const pid = farm.nats.pid;
      farm.step("restarting nats-server");
      await farm.nats.restart();
      farm.step("nats-server restarted");
      assert.notEqual(farm.nats.pid, pid, "nats-server is a new process");
      assert.ok(client.alive, "the run was still going when nats-server restarted");

      assert.equal((await client.ended(90_000)).code, 0, "the run succeeds");
      const done = lastJson<RunSummary>(client.stdout);
      assert.equal(done.run, run);
      assert.equal(done.status, "succeeded");
      assert.deepEqual(done.stages, { executed: 6, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
      const expected = fanoutExpected(token, leaves);
      assert.equal(done.results["join"]?.outputs["all"]?.digest, sha256(expected));
      for (const p of [farm.coordinator, ...farm.agents.values()])
        assert.match(p?.output ?? "", /reconnected to NATS/, `${p?.name ?? "?"} reconnected`);
    });
  });
});
