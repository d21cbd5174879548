/**
 * `stagefarm plan FILE --agents k[,k2…]`: the expected makespan of what would run, on k agents
 * of `--slots` slots with `--labels` (default: every label the pipeline requires), simulated with
 * the farm's own ready order (shared/schedule/), next to the lower bound max(critical path,
 * work / slots). Cached stages take no time; the others their expected duration (the median of
 * recorded runs, else `estimate:`).
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Simulation, SimStage } from "../../shared/schedule/index.js";
import { formatDuration } from "../../shared/util/duration.js";
import type { Style } from "../output.js";

/** At most this many agent counts in one `--agents` list, each at most {@link MAX_AGENTS}. */
const MAX_AGENT_COUNTS = 64;
const MAX_AGENTS = 10_000;

/** Parses `--agents 1,2,4` (also `1-8`): distinct positive counts, in the order given. */
export function parseAgentCounts(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const range = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(part);
    const lo = Number(range?.[1]);
    const hi = range?.[2] === undefined ? lo : Number(range[2]);
    if (range === null || lo < 1 || hi < lo || hi > MAX_AGENTS)
      throw new StagefarmError(
        "invalid_argument",
        `--agents takes counts from 1 to ${MAX_AGENTS} separated by commas (e.g. 1,2,4 or 1-8), got "${text}"`,
      );
    for (let k = lo; k <= hi; k++) if (!out.includes(k)) out.push(k);
    if (out.length > MAX_AGENT_COUNTS)
      throw new StagefarmError("invalid_argument", `--agents lists at most ${MAX_AGENT_COUNTS} counts`);
  }
  return out;
}

export interface AgentsSimulation {
  agents: number;
  slotsPerAgent: number;
  labels: string[];
  makespanMs: number;
  boundMs: number;
  /** A tighter lower bound (shared/schedule/simulate.ts `tightBoundMs`). */
  tightBoundMs: number;
  criticalPathMs: number;
  workMs: number;
  /** makespan / bound (1 when both are 0). */
  ratio: number;
  starts: Simulation["starts"];
  unplaceable: string[];
  blocked: string[];
}

export async function simulateAgents(
  stages: readonly SimStage[],
  durationMs: (stage: string) => number,
  counts: readonly number[],
  slotsPerAgent: number,
  labels: readonly string[] | undefined,
): Promise<AgentsSimulation[]> {
  const { simulateSchedule, uniformAgents } = await import("../../shared/schedule/index.js");
  const agentLabels = labels ?? [...new Set(stages.flatMap((s) => s.requires))].sort();
  return counts.map((k) => {
    const sim = simulateSchedule(stages, uniformAgents(k, agentLabels, slotsPerAgent), durationMs);
    return {
      agents: k,
      slotsPerAgent,
      labels: [...agentLabels],
      makespanMs: sim.makespanMs,
      boundMs: sim.boundMs,
      tightBoundMs: sim.tightBoundMs,
      criticalPathMs: sim.criticalPathMs,
      workMs: sim.workMs,
      ratio: sim.boundMs > 0 ? sim.makespanMs / sim.boundMs : 1,
      starts: sim.starts,
      unplaceable: sim.unplaceable,
      blocked: sim.blocked,
    };
  });
}

/** The human table: one line per agent count. */
export function formatAgentsSimulation(sims: readonly AgentsSimulation[], c: Style): string[] {
  const first = sims[0];
  if (first === undefined) return [];
  const out = [
    c.bold(
      `Expected makespan of what would run (agents of ${first.slotsPerAgent} slot${first.slotsPerAgent === 1 ? "" : "s"}, labels ${first.labels.join(",") || "none"}):`,
    ),
    c.dim(
      `  ${"agents".padStart(6)}  ${"makespan".padStart(9)}  ${"bound".padStart(9)}  ratio  ${"tighter bound".padStart(13)}`,
    ),
  ];
  for (const s of sims)
    out.push(
      `  ${String(s.agents).padStart(6)}  ${formatDuration(s.makespanMs).padStart(9)}  ${formatDuration(s.boundMs).padStart(9)}  ${s.ratio.toFixed(3)}  ${formatDuration(s.tightBoundMs).padStart(13)}` +
        c.dim(s.boundMs === s.criticalPathMs ? "  (bound: critical path)" : "  (bound: work / slots)"),
    );
  out.push(
    c.dim(
      "  bound = max(critical path, work / slots); the tighter bound also counts work that cannot start before its upstream chain ends",
    ),
  );
  const stuck = [...first.unplaceable, ...first.blocked];
  if (stuck.length > 0)
    out.push(
      c.yellow(
        `No agent with these labels runs ${first.unplaceable.join(", ")}; left out with the stages after them (${stuck.length} in all)`,
      ),
    );
  return out;
}
