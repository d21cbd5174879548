/**
 * `stagefarm plan --agents` simulates the order the farm starts stages in; a real embedded run
 * of the same pipeline (one slot, scaled-down sleep stages) starts them in that order. Only the
 * order is compared, not timings. The fixture's order is neither the file order nor the order
 * in which stages become ready, so a FIFO in front of the agent would fail this.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";

const PIPELINE = "test/fixtures/pipelines/makespan-order.yaml";

interface PlanJson {
  simulation: Array<{
    agents: number;
    makespanMs: number;
    boundMs: number;
    starts: Array<{ stage: string; startMs: number }>;
  }>;
}

test("a one-slot embedded run starts stages in the order plan --agents simulates", async () => {
  await using sb = await CliSandbox.create();
  const plan = await sb.run(["plan", PIPELINE, "--agents", "1", "--json"]);
  assert.equal(plan.code, 0, plan.stderr);
  const [sim] = (lastJsonLine(plan.stdout) as unknown as PlanJson).simulation;
  assert.ok(sim !== undefined);
  const simulated = sim.starts.map((s) => s.stage);
  assert.deepEqual(simulated, ["a", "b", "c", "x1", "d", "x2"]);
  // One agent of one slot: the makespan is all the work (9h30m), which is also the bound.
  assert.equal(sim.makespanMs, 9.5 * 3_600_000);
  assert.equal(sim.boundMs, sim.makespanMs);

  const run = await sb.run(["run", PIPELINE, "--jobs", "1", "--quiet"]);
  assert.equal(run.code, 0, run.stderr);
  const started = [...run.stdout.matchAll(/^>>> Running {2}(\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(started, simulated);
});
