/**
 * The order in which ready stages start: the one scheduling policy of the farm. The run engine
 * (coordinator/engine/run-engine.ts) starts its ready stages in this order, the run ETA
 * (../pipeline/run-eta.ts) and the makespan simulation (./simulate.ts) place them the same way.
 *
 * Critical path first: a stage's priority is the longest expected duration from its start to
 * the end of the DAG, itself included (its "tail"). Among equal tails, the earlier one in
 * dependency order (which follows the file) goes first.
 */
import { priorities, topoOrder, type GraphStage } from "../pipeline/index.js";

export interface ReadyOrder {
  /** The stage's tail: the longest expected duration from its start to the end of the DAG. */
  priority(name: string): number;
  /** Negative when `a` starts before `b`. */
  compare(a: string, b: string): number;
}

export function readyOrder(stages: readonly GraphStage[], durationMs: (name: string) => number): ReadyOrder {
  const tail = priorities(stages, durationMs);
  const order = topoOrder(stages);
  const rank = new Map(order.map((n, i) => [n, i]));
  return {
    priority: (name) => tail.get(name) ?? 0,
    compare: (a, b) => (tail.get(b) ?? 0) - (tail.get(a) ?? 0) || (rank.get(a) ?? 0) - (rank.get(b) ?? 0),
  };
}
