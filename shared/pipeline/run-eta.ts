/**
 * The expected time left in a run, for `stagefarm run`'s status area, `submit --watch` and the
 * dashboard: a pure function of the stages left, their expected durations (the recorded p50,
 * else `estimate:`, as coordinator/history.ts picks them), how long the running ones have run, and the
 * slots they share.
 *
 * A running stage is expected to need `expected - elapsed` more (0 once overdue: it is listed
 * in `overdue`, and the ETA is a lower bound until it ends). Waiting stages are placed by a
 * list schedule on `slots` slots, highest remaining path first (as the engine orders them), so
 * the ETA is at least the critical path of what remains and at least the work left / slots.
 */

export interface EtaStage {
  name: string;
  /** Upstream stage names; names not in the list are ignored. */
  after: readonly string[];
  state: "pending" | "running" | "finished";
  expectedMs: number;
  /** For a running stage: how long it has run. */
  elapsedMs?: number;
}

export interface RunEta {
  /** Expected time until the last stage ends. */
  remainingMs: number;
  /** The longest chain of what remains (running and pending stages), first to last. */
  criticalPath: string[];
  /** Running stages past their expected duration. */
  overdue: string[];
}

/** The ETA of the stages left; `slots` is how many run at once (default: no limit). */
export function runEta(stages: readonly EtaStage[], slots = Number.POSITIVE_INFINITY): RunEta {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const left = new Map<string, number>();
  const overdue: string[] = [];
  for (const s of stages) {
    const expected = Number.isFinite(s.expectedMs) ? Math.max(0, s.expectedMs) : 0;
    if (s.state === "finished") left.set(s.name, 0);
    else if (s.state === "running") {
      const rest = expected - Math.max(0, s.elapsedMs ?? 0);
      if (rest < 0) overdue.push(s.name);
      left.set(s.name, Math.max(0, rest));
    } else left.set(s.name, expected);
  }
  const deps = new Map(
    stages.map((s) => [s.name, [...new Set(s.after)].filter((d) => d !== s.name && byName.has(d))]),
  );
  const order = topo(stages, deps);

  // Longest remaining chain through each stage to the end (its priority), and the path itself.
  const tail = new Map<string, number>();
  const next = new Map<string, string>();
  const downstream = new Map<string, string[]>();
  for (const [n, ds] of deps) for (const d of ds) downstream.set(d, [...(downstream.get(d) ?? []), n]);
  for (const n of [...order].reverse()) {
    let best = 0;
    let via: string | undefined;
    for (const m of downstream.get(n) ?? []) {
      const t = tail.get(m) ?? 0;
      if (via === undefined || t > best) [best, via] = [t, m];
    }
    if (via !== undefined) next.set(n, via);
    tail.set(n, (left.get(n) ?? 0) + best);
  }
  const unfinished = order.filter((n) => byName.get(n)?.state !== "finished");
  let start: string | undefined;
  for (const n of unfinished)
    if (start === undefined || (tail.get(n) ?? 0) > (tail.get(start) ?? 0)) start = n;
  const criticalPath: string[] = [];
  const onPath = new Set<string>();
  for (let n = start; n !== undefined && !onPath.has(n); n = next.get(n)) {
    onPath.add(n);
    if (byName.get(n)?.state !== "finished") criticalPath.push(n);
  }

  return { remainingMs: schedule(stages, deps, left, tail, slots), criticalPath, overdue };
}

/** Kahn's order; stages in a cycle (refused by the parser, but inputs are hostile) go last. */
function topo(stages: readonly EtaStage[], deps: Map<string, string[]>): string[] {
  const indegree = new Map(stages.map((s) => [s.name, deps.get(s.name)?.length ?? 0]));
  const users = new Map<string, string[]>();
  for (const [n, ds] of deps) for (const d of ds) users.set(d, [...(users.get(d) ?? []), n]);
  const queue = stages.filter((s) => indegree.get(s.name) === 0).map((s) => s.name);
  const out: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i] ?? "";
    out.push(n);
    for (const u of users.get(n) ?? []) {
      const d = (indegree.get(u) ?? 0) - 1;
      indegree.set(u, d);
      if (d === 0) queue.push(u);
    }
  }
  const placed = new Set(out);
  return [...out, ...stages.map((s) => s.name).filter((n) => !placed.has(n))];
}

/** When the last stage ends under a list schedule on `slots` slots. */
function schedule(
  stages: readonly EtaStage[],
  deps: Map<string, string[]>,
  left: Map<string, number>,
  tail: Map<string, number>,
  slots: number,
): number {
  const endAt = new Map<string, number>();
  const active: Array<{ name: string; end: number }> = [];
  for (const s of stages)
    if (s.state === "finished") endAt.set(s.name, 0);
    else if (s.state === "running") active.push({ name: s.name, end: left.get(s.name) ?? 0 });
  const width = Math.max(1, Number.isNaN(slots) ? 1 : slots, active.length);
  let pending = stages.filter((s) => s.state === "pending").map((s) => s.name);
  let now = 0;
  let last = Math.max(0, ...active.map((a) => a.end));
  for (;;) {
    const ready = pending
      .filter((n) => (deps.get(n) ?? []).every((d) => endAt.has(d) && (endAt.get(d) ?? 0) <= now))
      .sort((a, b) => (tail.get(b) ?? 0) - (tail.get(a) ?? 0));
    for (const n of ready) {
      if (active.length >= width) break;
      const end = now + (left.get(n) ?? 0);
      active.push({ name: n, end });
      pending = pending.filter((p) => p !== n);
      last = Math.max(last, end);
    }
    if (active.length === 0) break; // the rest waits on a cycle: nothing more can start
    active.sort((a, b) => a.end - b.end);
    const done = active.shift();
    if (done === undefined) break;
    now = done.end;
    endAt.set(done.name, now);
    if (pending.length === 0 && active.length === 0) break;
  }
  return last;
}
