/**
 * Cross-stage validation after every stage is parsed: each `from: stage.output` names an
 * existing stage (not the stage itself) and one of its outputs, and the stages form a DAG.
 * A cycle is reported once per strongly connected component, naming every stage on it in order.
 */
import type { PipelineIssue } from "./pipeline-error.js";
import { didYouMean, listNames } from "./suggest.js";
import type { InputSpec } from "./types.js";

type StageInput = Extract<InputSpec, { t: "stage" }>;

/** What the graph check needs of a stage, also of one that failed to parse in part. */
export interface GraphNode {
  name: string;
  /** Inputs that parsed. */
  inputs: readonly InputSpec[];
  /** Names of the outputs that parsed (for fetch: the sources). */
  outputs: readonly string[];
  /** Output names as written, including ones that failed to parse (already reported). */
  declared: ReadonlySet<string>;
  /** The stage itself has errors: references to its outputs are not checked. */
  broken: boolean;
}

/** A problem with the reference; "" when it points at something broken that is reported already. */
function referenceIssue(
  stage: GraphNode,
  input: StageInput,
  byName: Map<string, GraphNode>,
): string | undefined {
  if (input.stage === stage.name)
    return `a stage cannot take its own output ("${input.stage}.${input.output}") as input`;
  const upstream = byName.get(input.stage);
  if (upstream === undefined)
    return `unknown stage "${input.stage}"${didYouMean(input.stage, byName.keys())}`;
  const names = upstream.outputs;
  if (names.includes(input.output)) return undefined;
  if (upstream.broken || upstream.declared.has(input.output)) return "";
  return (
    `stage "${input.stage}" has no output "${input.output}"${didYouMean(input.output, names)}; ` +
    `its outputs are ${listNames(names)}`
  );
}

/** Strongly connected components (Tarjan), each in discovery order. */
function components(names: readonly string[], edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    const i = index.size;
    index.set(v, i);
    low.set(v, i);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
        onStack.delete(w);
        comp.push(w);
        if (w === v) break;
      }
      out.push(comp);
    }
  };
  for (const n of names) if (!index.has(n)) visit(n);
  return out;
}

/** A cycle through `start` inside `members`: [start, …, start]. */
function cycleThrough(start: string, members: ReadonlySet<string>, edges: Map<string, string[]>): string[] {
  const seen = new Set<string>();
  const path: string[] = [];
  const walk = (v: string): boolean => {
    path.push(v);
    for (const w of edges.get(v) ?? []) {
      if (w === start) {
        path.push(w);
        return true;
      }
      if (members.has(w) && !seen.has(w)) {
        seen.add(w);
        if (walk(w)) return true;
      }
    }
    path.pop();
    return false;
  };
  walk(start);
  return path;
}

export function checkGraph(stages: readonly GraphNode[]): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  const byName = new Map(stages.map((s) => [s.name, s]));
  const edges = new Map<string, string[]>();
  for (const stage of stages) {
    const deps: string[] = [];
    for (const input of stage.inputs) {
      if (input.t !== "stage") continue;
      const problem = referenceIssue(stage, input, byName);
      if (problem === "") continue;
      if (problem !== undefined)
        issues.push({ pos: input.pos, message: `stage "${stage.name}" input "${input.name}": ${problem}` });
      else if (!deps.includes(input.stage)) deps.push(input.stage);
    }
    edges.set(stage.name, deps);
  }
  const order = stages.map((s) => s.name);
  for (const comp of components(order, edges)) {
    if (comp.length < 2) continue;
    const members = new Set(comp);
    const start = order.find((n) => members.has(n)) ?? comp[0] ?? "";
    const cycle = cycleThrough(start, members, edges);
    const first = byName.get(start);
    const edge = first?.inputs.find((i) => i.t === "stage" && i.stage === cycle[1]);
    if (first === undefined || edge === undefined) continue;
    issues.push({
      pos: edge.pos,
      message:
        `stage "${start}" input "${edge.name}": dependency cycle: ${cycle.join(" -> ")} ` +
        `(each stage takes an input from the next)`,
    });
  }
  return issues;
}
