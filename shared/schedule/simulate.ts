/**
 * The makespan of a pipeline on a set of agents, by simulation (`stagefarm plan --agents`).
 *
 * The farm's policy replayed on a clock: whenever a slot is free, the ready stages are taken in
 * {@link readyOrder} (critical path first), each placed on the first agent with a free slot whose
 * labels include everything the stage `requires` (its pool); a stage no free agent can take
 * waits while the next one is placed. A stage is ready when all its upstream stages ended.
 * Stages no agent could ever run (no agent has their labels) are `unplaceable`, and the stages
 * after them `blocked`; neither counts in the makespan or the bound.
 *
 * The lower bound is max(critical path, work / slots): no schedule beats either.
 */
import { criticalPath, stageDeps, topoOrder, type GraphStage } from "../pipeline/index.js";
import { MinHeap } from "../util/min-heap.js";
import { readyOrder } from "./ready-order.js";

export interface SimStage extends GraphStage {
  /** Labels an agent must have to run the stage. */
  requires: readonly string[];
}

export interface SimAgent {
  name: string;
  labels: readonly string[];
  /** Stages it runs at once. */
  slots: number;
}

export interface SimStart {
  stage: string;
  agent: string;
  startMs: number;
  endMs: number;
}

export interface Simulation {
  /** When the last stage ends. */
  makespanMs: number;
  /** max(critical path, work / slots) over the stages that can run. */
  boundMs: number;
  /**
   * A lower bound at least as tight: for each time t, t + (work of the stages that cannot start
   * before t, even on unlimited agents) / slots; also no schedule beats it. It tells a loose
   * {@link boundMs} (a long chain, then wide work after it) from a poor schedule.
   */
  tightBoundMs: number;
  criticalPathMs: number;
  workMs: number;
  /** Slots of all agents. */
  slots: number;
  /** Every stage that ran, in the order they started. */
  starts: SimStart[];
  /** Stages no agent has the labels for, and the stages after them. */
  unplaceable: string[];
  blocked: string[];
}

/**
 * Agents with labels and slots; `durationMs` gives each stage's expected duration (≥ 0), and
 * `priorityMs` the durations the ready order is computed from (default the same; a bench
 * passes zeros to replay a plain file order).
 */
export function simulateSchedule(
  stages: readonly SimStage[],
  agents: readonly SimAgent[],
  durationMs: (stage: string) => number,
  priorityMs: (stage: string) => number = durationMs,
): Simulation {
  const dur = (n: string): number => {
    const d = durationMs(n);
    return Number.isFinite(d) && d > 0 ? d : 0;
  };
  const byName = new Map(stages.map((s) => [s.name, s]));
  const order = topoOrder(stages);
  const fits = (s: SimStage, a: SimAgent): boolean => s.requires.every((l) => a.labels.includes(l));
  const unplaceable = new Set(
    stages.filter((s) => !agents.some((a) => a.slots > 0 && fits(s, a))).map((s) => s.name),
  );
  const deps = new Map(
    stages.map((s) => [s.name, stageDeps(s).filter((d) => byName.has(d) && d !== s.name)]),
  );
  const blocked = new Set<string>();
  for (const n of order)
    if (!unplaceable.has(n) && (deps.get(n) ?? []).some((d) => unplaceable.has(d) || blocked.has(d)))
      blocked.add(n);
  const runnable = stages.filter((s) => !unplaceable.has(s.name) && !blocked.has(s.name));

  const rank = readyOrder(runnable, priorityMs === durationMs ? dur : priorityMs);
  const users = new Map<string, string[]>(runnable.map((s) => [s.name, []]));
  const missing = new Map<string, number>();
  for (const s of runnable) {
    const ds = deps.get(s.name) ?? [];
    missing.set(s.name, ds.length);
    for (const d of ds) users.get(d)?.push(s.name);
  }
  const ready = new MinHeap<string>((a, b) => rank.compare(a, b) < 0);
  for (const s of runnable) if (missing.get(s.name) === 0) ready.push(s.name);
  const free = agents.map((a) => Math.max(0, Math.floor(a.slots)));
  const running = new MinHeap<SimStart & { seq: number; agentIndex: number }>(
    (a, b) => a.endMs < b.endMs || (a.endMs === b.endMs && a.seq < b.seq),
  );
  const starts: SimStart[] = [];
  let now = 0;
  for (;;) {
    // Place what is ready, best first; a stage whose pool is full waits for the next end.
    const waiting: string[] = [];
    for (let n = ready.pop(); n !== undefined; n = ready.pop()) {
      const s = byName.get(n);
      const i = s === undefined ? -1 : agents.findIndex((a, j) => (free[j] ?? 0) > 0 && fits(s, a));
      const agent = agents[i];
      if (agent === undefined) {
        waiting.push(n);
        if (!free.some((f) => f > 0)) break;
        continue;
      }
      free[i] = (free[i] ?? 0) - 1;
      const start = { stage: n, agent: agent.name, startMs: now, endMs: now + dur(n) };
      starts.push(start);
      running.push({ ...start, seq: starts.length, agentIndex: i });
    }
    for (const n of waiting) ready.push(n);
    // Advance the clock to the next end and release everything that ends then.
    const next = running.peek();
    if (next === undefined) break;
    now = next.endMs;
    for (let top = running.peek(); top !== undefined && top.endMs === now; top = running.peek()) {
      running.pop();
      free[top.agentIndex] = (free[top.agentIndex] ?? 0) + 1;
      for (const u of users.get(top.stage) ?? []) {
        const left = (missing.get(u) ?? 0) - 1;
        missing.set(u, left);
        if (left === 0) ready.push(u);
      }
    }
  }
  const slots = agents.reduce((sum, a) => sum + Math.max(0, Math.floor(a.slots)), 0);
  const workMs = runnable.reduce((sum, s) => sum + dur(s.name), 0);
  const criticalPathMs = criticalPath(runnable, dur).totalMs;
  const boundMs = Math.max(criticalPathMs, slots > 0 ? workMs / slots : 0);
  return {
    makespanMs: starts.reduce((m, s) => Math.max(m, s.endMs), 0),
    boundMs,
    tightBoundMs: Math.max(boundMs, releaseBound(order, deps, runnable, dur, slots)),
    criticalPathMs,
    workMs,
    slots,
    starts,
    unplaceable: order.filter((n) => unplaceable.has(n)),
    blocked: order.filter((n) => blocked.has(n)),
  };
}

/** `k` agents named agent-1… with the same labels and slots. */
export function uniformAgents(k: number, labels: readonly string[], slots = 1): SimAgent[] {
  return Array.from({ length: k }, (_, i) => ({ name: `agent-${i + 1}`, labels, slots }));
}

/** max over t of t + (work of stages whose earliest start is ≥ t) / slots. */
function releaseBound(
  order: readonly string[],
  deps: ReadonlyMap<string, readonly string[]>,
  runnable: readonly SimStage[],
  dur: (stage: string) => number,
  slots: number,
): number {
  if (slots <= 0) return 0;
  const names = new Set(runnable.map((s) => s.name));
  const head = new Map<string, number>();
  for (const n of order) {
    if (!names.has(n)) continue;
    let start = 0;
    for (const d of deps.get(n) ?? []) start = Math.max(start, (head.get(d) ?? 0) + dur(d));
    head.set(n, start);
  }
  const byHead = [...head].sort((a, b) => b[1] - a[1]);
  let work = 0;
  let best = 0;
  for (const [n, t] of byHead) {
    work += dur(n);
    best = Math.max(best, t + work / slots);
  }
  return best;
}
