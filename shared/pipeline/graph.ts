/**
 * Graph helpers over stages (StageSpec or ResolvedStage: both have `name` and `inputs`).
 * Edges run from a stage to the upstream stages its inputs come from. References to stages not
 * in the given list are ignored, so the helpers also work on a subset of a pipeline.
 */
import { StagefarmError } from "../errors.js";
import { MinHeap } from "../util/min-heap.js";
import { didYouMean } from "./suggest.js";
import type { InputSpec } from "./types.js";

/** What the graph reads of an input: only a stage input names an upstream stage. */
export type GraphInput = { t: "stage"; stage: string } | { t: Exclude<InputSpec["t"], "stage"> };

export interface GraphStage {
  name: string;
  inputs: readonly GraphInput[];
}

/** Upstream stage names of one stage, unique, in input order. */
export function stageDeps(stage: GraphStage): string[] {
  const out: string[] = [];
  for (const i of stage.inputs) if (i.t === "stage" && !out.includes(i.stage)) out.push(i.stage);
  return out;
}

function depsWithin(stages: readonly GraphStage[]): Map<string, string[]> {
  const names = new Set(stages.map((s) => s.name));
  return new Map(stages.map((s) => [s.name, stageDeps(s).filter((d) => names.has(d) && d !== s.name)]));
}

/** Dependency order (upstream first); among ready stages the earlier one in the file goes first. */
export function topoOrder(stages: readonly GraphStage[]): string[] {
  const deps = depsWithin(stages);
  const index = new Map(stages.map((s, i) => [s.name, i]));
  const users = consumersOf(deps);
  const missing = new Map([...deps].map(([n, ds]) => [n, ds.length]));
  // Kahn's algorithm with the ready stages in file order: O((n + edges) log n).
  const ready = new MinHeap<number>((a, b) => a < b);
  stages.forEach((s, i) => {
    if (missing.get(s.name) === 0) ready.push(i);
  });
  const order: string[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    const name = stages[i]?.name ?? "";
    order.push(name);
    for (const u of users.get(name) ?? []) {
      const left = (missing.get(u) ?? 0) - 1;
      missing.set(u, left);
      if (left === 0) ready.push(index.get(u) ?? 0);
    }
  }
  if (order.length < stages.length) {
    const done = new Set(order);
    const left = stages.filter((s) => !done.has(s.name)).map((s) => s.name);
    throw new StagefarmError("invalid_pipeline", `dependency cycle among stages ${left.join(", ")}`);
  }
  return order;
}

function consumersOf(deps: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>([...deps.keys()].map((n) => [n, []]));
  for (const [name, ds] of deps) for (const d of ds) out.get(d)?.push(name);
  return out;
}

/** Stage name → names of the stages that take an input from it. */
function consumers(stages: readonly GraphStage[]): Map<string, string[]> {
  return consumersOf(depsWithin(stages));
}

function requireStage(stages: readonly GraphStage[], name: string): void {
  const names = stages.map((s) => s.name);
  if (!names.includes(name))
    throw new StagefarmError("invalid_argument", `unknown stage "${name}"${didYouMean(name, names)}`);
}

function reachable(start: string, next: Map<string, string[]>): Set<string> {
  const seen = new Set<string>();
  const todo = [...(next.get(start) ?? [])];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    if (seen.has(n)) continue;
    seen.add(n);
    todo.push(...(next.get(n) ?? []));
  }
  return seen;
}

/** Every stage that depends on `name`, directly or not, in dependency order. */
export function downstreamOf(stages: readonly GraphStage[], name: string): string[] {
  requireStage(stages, name);
  const found = reachable(name, consumers(stages));
  return topoOrder(stages).filter((n) => found.has(n));
}

/** Every stage `name` depends on, directly or not, in dependency order. */
export function upstreamOf(stages: readonly GraphStage[], name: string): string[] {
  requireStage(stages, name);
  const found = reachable(name, depsWithin(stages));
  return topoOrder(stages).filter((n) => found.has(n));
}

/** The chain of stages with the largest summed duration (upstream first). */
export function criticalPath(
  stages: readonly GraphStage[],
  durationMs: (name: string) => number,
): { path: string[]; totalMs: number } {
  const deps = depsWithin(stages);
  const finish = new Map<string, number>();
  const via = new Map<string, string>();
  let end: string | undefined;
  for (const name of topoOrder(stages)) {
    let start = 0;
    for (const d of deps.get(name) ?? []) {
      const f = finish.get(d) ?? 0;
      if (!via.has(name) || f > start) {
        via.set(name, d);
        start = f;
      }
    }
    const total = start + durationMs(name);
    finish.set(name, total);
    if (end === undefined || total > (finish.get(end) ?? 0)) end = name;
  }
  const path: string[] = [];
  for (let n = end; n !== undefined; n = via.get(n)) path.unshift(n);
  return { path, totalMs: end === undefined ? 0 : (finish.get(end) ?? 0) };
}

/**
 * For each stage, the longest summed duration from its start to the end of the DAG, itself
 * included. Running the highest first keeps the critical path moving.
 */
export function priorities(
  stages: readonly GraphStage[],
  durationMs: (name: string) => number,
): Map<string, number> {
  const next = consumers(stages);
  const out = new Map<string, number>();
  for (const name of topoOrder(stages).reverse()) {
    const tail = Math.max(0, ...(next.get(name) ?? []).map((c) => out.get(c) ?? 0));
    out.set(name, durationMs(name) + tail);
  }
  return out;
}
