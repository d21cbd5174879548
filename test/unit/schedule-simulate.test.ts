import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseAgentCounts } from "../../cli/commands/plan-agents.js";
import { readyOrder, simulateSchedule, uniformAgents, type SimStage } from "../../shared/schedule/index.js";

/** `name` after `deps`, needing `requires`. */
function st(name: string, deps: string[] = [], requires: string[] = []): SimStage {
  return { name, requires, inputs: deps.map((d) => ({ t: "stage" as const, stage: d })) };
}

function durations(d: Record<string, number>): (n: string) => number {
  return (n) => d[n] ?? 0;
}

describe("simulateSchedule", () => {
  void test("a chain takes its critical path however many agents there are", () => {
    const stages = [st("a"), st("b", ["a"]), st("c", ["b"])];
    const sim = simulateSchedule(stages, uniformAgents(3, []), durations({ a: 1, b: 2, c: 3 }));
    assert.equal(sim.makespanMs, 6);
    assert.equal(sim.boundMs, 6);
    assert.equal(sim.criticalPathMs, 6);
    assert.deepEqual(
      sim.starts.map((s) => [s.stage, s.startMs, s.endMs]),
      [
        ["a", 0, 1],
        ["b", 1, 3],
        ["c", 3, 6],
      ],
    );
  });

  void test("critical path first reaches the optimum where the file order does not", () => {
    // Optimal on 2 agents: a, then b on the agent a used while x and y share the other: 5.
    const stages = [st("x"), st("y"), st("a"), st("b", ["a"])];
    const d = durations({ x: 2, y: 2, a: 1, b: 4 });
    const sim = simulateSchedule(stages, uniformAgents(2, []), d);
    assert.equal(sim.makespanMs, 5);
    assert.equal(sim.boundMs, 5);
    assert.deepEqual(
      sim.starts.map((s) => s.stage),
      ["a", "x", "b", "y"],
    );
    // The same DAG with no priority (file order among ready stages): 7.
    assert.equal(simulateSchedule(stages, uniformAgents(2, []), d, () => 0).makespanMs, 7);
  });

  void test("independent stages spread over the slots; one agent of 2 slots is 2 agents of 1", () => {
    const stages = ["p", "q", "r", "s"].map((n) => st(n));
    const d = durations({ p: 4, q: 4, r: 2, s: 2 });
    const two = simulateSchedule(stages, uniformAgents(2, []), d);
    assert.equal(two.makespanMs, 6);
    assert.equal(two.boundMs, 6);
    const slots = simulateSchedule(stages, uniformAgents(1, [], 2), d);
    assert.equal(slots.makespanMs, 6);
    assert.equal(slots.slots, 2);
    assert.deepEqual(new Set(slots.starts.map((s) => s.agent)), new Set(["agent-1"]));
  });

  void test("a stage runs only on agents with the labels it requires", () => {
    const stages = [st("cat1", [], ["catalyst"]), st("cat2", [], ["catalyst"]), st("plain")];
    const agents = [
      { name: "builder", labels: ["x86_64"], slots: 1 },
      { name: "releng", labels: ["x86_64", "catalyst"], slots: 1 },
    ];
    const sim = simulateSchedule(stages, agents, durations({ cat1: 3, cat2: 3, plain: 3 }));
    // The catalyst pool is one slot: its two stages run one after the other.
    assert.equal(sim.makespanMs, 6);
    for (const s of sim.starts) assert.equal(s.agent, s.stage === "plain" ? "builder" : "releng");
  });

  void test("stages no agent can run are left out with everything after them", () => {
    const stages = [st("a"), st("vm", ["a"], ["kvm"]), st("iso", ["vm"]), st("docs", ["a"])];
    const sim = simulateSchedule(
      stages,
      uniformAgents(2, ["x86_64"]),
      durations({ a: 1, vm: 9, iso: 9, docs: 2 }),
    );
    assert.deepEqual(sim.unplaceable, ["vm"]);
    assert.deepEqual(sim.blocked, ["iso"]);
    assert.deepEqual(
      sim.starts.map((s) => s.stage),
      ["a", "docs"],
    );
    assert.equal(sim.makespanMs, 3);
    assert.equal(sim.workMs, 3);
  });

  void test("the tighter bound counts work that must wait for a chain", () => {
    // A 4-unit chain, then four 2-unit stages after it: no 2-agent schedule beats 4 + 8/2 = 8.
    const stages = [st("seed"), ...["s1", "s2", "s3", "s4"].map((n) => st(n, ["seed"]))];
    const d = durations({ seed: 4, s1: 2, s2: 2, s3: 2, s4: 2 });
    const sim = simulateSchedule(stages, uniformAgents(2, []), d);
    assert.equal(sim.boundMs, 6);
    assert.equal(sim.tightBoundMs, 8);
    assert.equal(sim.makespanMs, 8);
  });

  void test("no agents: nothing runs, every stage is unplaceable", () => {
    const sim = simulateSchedule([st("a"), st("b", ["a"])], [], durations({ a: 1, b: 1 }));
    assert.deepEqual(sim.unplaceable, ["a", "b"]);
    assert.deepEqual(sim.blocked, []);
    assert.equal(sim.makespanMs, 0);
    assert.deepEqual(sim.starts, []);
  });
});

describe("readyOrder", () => {
  void test("the longest tail first, then dependency order", () => {
    const stages = [st("x"), st("a"), st("y"), st("b", ["a"])];
    const order = readyOrder(stages, durations({ x: 3, a: 1, y: 3, b: 5 }));
    assert.equal(order.priority("a"), 6);
    assert.equal(order.priority("x"), 3);
    assert.deepEqual(
      ["y", "x", "a"].sort((p, q) => order.compare(p, q)),
      ["a", "x", "y"],
    );
  });
});

describe("parseAgentCounts", () => {
  void test("lists and ranges, each count once", () => {
    assert.deepEqual(parseAgentCounts("1-3,5,2"), [1, 2, 3, 5]);
    assert.deepEqual(parseAgentCounts("8"), [8]);
  });

  void test("refuses what is not a count from 1 to 10,000", () => {
    for (const bad of ["0", "", "a", "3-1", "1,,2", "-1", "99999", "1e3", "1-100000"])
      assert.throws(
        () => parseAgentCounts(bad),
        (err: unknown) => err instanceof Error && /--agents/.test(err.message),
        bad,
      );
    assert.throws(() => parseAgentCounts("1-65"), /at most 64/);
  });
});
