/**
 * Re-dispatch on time and visibly, with real processes: an agent SIGKILLed mid-stage and started
 * again with the same id loses its stage at once (its heartbeat no longer lists it; no waiting
 * for the lease), the new agent kills the orphaned script and removes the stale workspace, and
 * `run show`, the API and the dashboard show both dispatches with why the first one ended. An
 * agent SIGKILLed and then the coordinator SIGKILLed and started again: the new coordinator
 * rebuilds the lease from its last renewal in KV, not a fresh TTL, and the stage runs again
 * within the TTL and a few seconds of the kill.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import {
  listProcesses,
  withFarm,
  type FarmProcess,
  type FarmProcesses,
  type RunSummary,
} from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

const slow = (token: string, seconds: number) => `pipeline: slow
stages:
  first:
    runner: shell
    script: mkdir -p out && echo "first ${token}" > out/x
    outputs: { x: out/x }
  slow:
    runner: shell
    inputs: { x: { from: first.x, unpack: false } }
    script: mkdir -p out && sleep ${seconds} && echo "slow ${token}" > out/x
    outputs: { x: out/x }
`;

async function finished(farm: FarmProcesses, run: string, ms = 60_000): Promise<RunSummary> {
  return poll(
    async () => {
      const s = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
      return s.status === "running" ? undefined : s;
    },
    { timeoutMs: ms, what: `run ${run} to finish`, intervalMs: 100 },
  );
}

const records = (p: FarmProcess | undefined, msg: RegExp) =>
  (p?.logRecords ?? []).filter((r) => msg.test(String(r["msg"])));

/** The stage dir names under an agent's work root (its workspaces). */
async function workspaces(farm: FarmProcesses, agent: string): Promise<string[]> {
  const names = await readdir(join(farm.agentWorkDir(agent), agent)).catch(() => []);
  return names.filter((n) => !n.startsWith("."));
}

interface DashRun {
  run: { stages: Array<{ name: string; state: string; attempts?: Array<{ dispatches?: unknown[] }> }> };
}

describe("re-dispatch after an agent dies (processes)", () => {
  test("an agent SIGKILLed and started again with the same id: its stage is lost at once, its script killed, its workspace swept, both dispatches shown", async (t) => {
    // A long lease: the stage must come back through the restarted agent's heartbeat, not expiry.
    await withFarm({ leaseTtl: "30s", agents: [{ id: "a1" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("slow.yaml", slow(token, 5));
      const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      await farm.runningStage(run, ["slow"]);
      const dir = farm.agentWorkDir("a1");
      const stale = await workspaces(farm, "a1");
      const scripts = (await listProcesses()).filter((p) => p.cwd.startsWith(dir));
      assert.ok(scripts.length > 0 && stale.length === 1, "the stage's script runs in its workspace");

      await farm.killAgent("a1", "SIGKILL");
      const killedAt = Date.now();
      await farm.startAgent("a1");

      // The new agent killed the orphans (the same pids, not reused) and removed the workspace.
      await poll(
        async () => {
          const live = await listProcesses();
          return scripts.every((s) => !live.some((p) => p.pid === s.pid && p.cwd === s.cwd))
            ? true
            : undefined;
        },
        { timeoutMs: 10_000, what: "the killed agent's stage processes to be gone", intervalMs: 100 },
      );
      const now = await workspaces(farm, "a1");
      assert.ok(
        !now.includes(stale[0] ?? ""),
        `the stale workspace ${stale[0] ?? ""} is gone (${now.join(",")})`,
      );
      const agent = farm.agents.get("a1");
      const swept = records(agent, /^swept what a previous agent left/);
      assert.equal(swept.length, 1, "one log line for the sweep");
      assert.ok(Number(swept[0]?.["processGroups"]) >= 1 && Number(swept[0]?.["workspaces"]) === 1);

      const done = await finished(farm, run);
      assert.equal(done.status, "succeeded");
      assert.equal(done.results["slow"]?.outputs["x"]?.digest, sha256(`slow ${token}\n`));
      const lost = records(farm.coordinator, /^stage dispatched again: agent a1 lost it/);
      assert.equal(lost.length, 1, "the coordinator re-dispatched the stage as lost, not by lease expiry");
      const delayMs = Number(lost[0]?.["time"]) - killedAt;
      assert.ok(delayMs < 15_000, `re-dispatched ${delayMs} ms after the kill (lease 30 s)`);
      t.diagnostic(`re-dispatch ${delayMs} ms after the agent's SIGKILL (restarted agent, lease 30 s)`);

      // run show (gRPC) and the dashboard: both dispatches, the first one lost, the same states.
      const attempts = (
        done.results["slow"] as { attempts?: Array<{ dispatches: Array<{ agent?: string; end: string }> }> }
      ).attempts;
      assert.deepEqual(
        attempts?.map((a) => a.dispatches.map((d) => [d.agent, d.end])),
        [
          [
            ["a1", "agent_lost"],
            ["a1", "finished"],
          ],
        ],
      );
      const text = await farm.cli(["run", "show", run]);
      assert.match(text.stdout, /dispatch 1 on a1: .*agent lost/);
      assert.match(text.stdout, /dispatch 2 on a1: .*finished/);
      const dash = (await (await fetch(`${farm.httpUrl}/api/dashboard/runs/${run}`)).json()) as DashRun;
      const states = Object.fromEntries(
        dash.run.stages.map((s) => [s.name, s.state.replace("STAGE_STATE_", "").toLowerCase()]),
      );
      assert.deepEqual(states, { first: "done", slow: "done" });
      assert.equal(dash.run.stages.find((s) => s.name === "slow")?.attempts?.[0]?.dispatches?.length, 2);
    });
  });

  test("an agent SIGKILLed, then the coordinator SIGKILLed and started again: the lease keeps its clock", async (t) => {
    const ttlMs = 6000;
    await withFarm({ leaseTtl: "6s", agents: [{ id: "a1" }, { id: "a2" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("slow.yaml", slow(token, 4));
      const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      const { agent: victim } = await farm.runningStage(run, ["slow"]);
      const rescuer = victim === "a1" ? "a2" : "a1";
      await farm.killAgent(victim, "SIGKILL");
      const killedAt = Date.now();
      await farm.killCoordinator("SIGKILL");
      await farm.startCoordinator();

      const done = await finished(farm, run);
      assert.equal(done.status, "succeeded");
      assert.equal(done.results["slow"]?.agent, rescuer);
      const restored = records(farm.coordinator, /^lease restored from KV$/).find(
        (r) => r["key"] === `stages.${run}.slow`,
      );
      assert.ok(restored !== undefined, "the new coordinator rebuilt the lease from KV");
      const leftMs = Date.parse(String(restored["until"])) - Number(restored["time"]);
      assert.ok(leftMs < ttlMs - 1000, `the rebuilt lease had ${leftMs} ms left, not a fresh ${ttlMs} ms`);
      const again = records(farm.coordinator, /^stage dispatched again: lease of /).find(
        (r) => r["key"] === `stages.${run}.slow`,
      );
      const delayMs = Number(again?.["time"]) - killedAt;
      assert.ok(delayMs <= ttlMs + 4000, `re-dispatched ${delayMs} ms after the kill (lease ${ttlMs} ms)`);
      t.diagnostic(
        `re-dispatch ${delayMs} ms after the agent's SIGKILL with a coordinator restart (lease ${ttlMs} ms)`,
      );
      const slowAttempts = (
        done.results["slow"] as { attempts?: Array<{ dispatches: Array<{ end: string }> }> }
      ).attempts;
      assert.deepEqual(
        slowAttempts?.[0]?.dispatches.map((d) => d.end),
        ["lease_expired", "finished"],
      );
    });
  });
});
