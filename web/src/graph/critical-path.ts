/**
 * The critical path of a run: the chain of dependent stages whose times add up to the longest
 * total, i.e. the stages that decided (or decide) when the run ends. A stage weighs what it
 * took (a running stage: what it has taken so far); a cached, skipped or waiting stage
 * weighs nothing, so a fully cached run has no critical path.
 */
import type { Stage } from "../api/types";

export function stageWeight(s: Stage, now: number): number {
  if (s.state === "cached" || s.state === "skipped" || s.startedAt === undefined) return 0;
  const end = s.finishedAt ?? (s.state === "running" ? now : undefined);
  return end === undefined ? 0 : Math.max(0, end - s.startedAt);
}

export function criticalPath(stages: readonly Stage[], now: number): Set<string> {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const indegree = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const s of stages) {
    const deps = s.dependsOn.filter((d) => byName.has(d));
    indegree.set(s.name, deps.length);
    for (const d of deps) children.set(d, [...(children.get(d) ?? []), s.name]);
  }
  const finish = new Map<string, number>();
  const via = new Map<string, string>();
  const queue = stages.filter((s) => (indegree.get(s.name) ?? 0) === 0).map((s) => s.name);
  while (queue.length > 0) {
    const name = queue.shift() ?? "";
    const s = byName.get(name);
    if (s === undefined) continue;
    let start = 0;
    for (const d of s.dependsOn) {
      const f = finish.get(d);
      if (f !== undefined && f > start) {
        start = f;
        via.set(name, d);
      }
    }
    finish.set(name, start + stageWeight(s, now));
    for (const c of children.get(name) ?? []) {
      const left = (indegree.get(c) ?? 1) - 1;
      indegree.set(c, left);
      if (left === 0) queue.push(c);
    }
  }
  let end: string | undefined;
  let best = 0;
  for (const [name, f] of finish)
    if (f > best) {
      best = f;
      end = name;
    }
  const path = new Set<string>();
  // Only predecessors that finished later than zero are on `via`: the chain holds real time.
  for (let n = end; n !== undefined; n = via.get(n)) path.add(n);
  return path;
}
