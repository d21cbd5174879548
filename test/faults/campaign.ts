/**
 * Issue 15's fault campaign as a project suite: `npm run test:faults -- [--rounds N] [--quick]`.
 *
 * A loopback farm of real processes (nats-server, the tests' S3 server, 1 coordinator, 3 agents
 * × 2 slots; lease TTL 10 s, heartbeat 2 s) runs a generated 40-stage DAG (./campaign-dag.ts)
 * once per round while faults are injected: agent SIGKILLs (restarted with the same id, at once
 * or after the lease), coordinator SIGKILLs (restarted), a nats-server restart, an agent
 * SIGSTOPped past its lease then SIGCONTed, a 30 s S3 outage. Each round is accounted for: the
 * run's outcome, stages lost, duplicate acceptances (a stage with two dispatches that ended
 * `finished`), extra executions (journal starts beyond one per stage), each of which must follow
 * a kill or stop of the agent that ran the earlier start, stale results rejected (the
 * coordinators' logs), and the delay from an agent's SIGKILL to the next start of each stage it
 * held, with and without a coordinator restart in between. Outputs are compared by digest with
 * a calm embedded run (`stagefarm run`) of the same DAG. Prints a Markdown table; exits 1 when
 * an invariant fails.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { StagefarmError } from "../../shared/errors.js";
import { withFarm, type FarmProcesses, type RunSummary } from "../helpers/farm-processes.js";
import { alive, dagPipeline, makeDag, readJournal, type DagStage, type Start } from "./campaign-dag.js";
import { poll } from "../helpers/poll.js";

const AGENTS = ["a1", "a2", "a3"];
const SLOTS = 2;
const LEASE_MS = 10_000;

interface Plan {
  quick: boolean;
  stages: number;
  outageMs: number;
}

interface Kill {
  agent: string;
  at: number;
  /** Stages whose script the agent ran at the kill (journal starts with a live pid). */
  held: Start[];
  coordinatorRestart: boolean;
}

interface Round {
  n: number;
  status: string;
  faults: string[];
  lost: string[];
  duplicates: string[];
  executions: number;
  extra: number;
  unexplained: string[];
  stale: number;
  delays: { plain: number[]; restarted: number[]; inOutage: number };
  digestDiffs: string[];
  wallMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Attempts = Array<{ dispatches: Array<{ agent?: string; end: string }> }>;

class RoundRunner {
  readonly kills: Kill[] = [];
  readonly stops: Array<{ agent: string; at: number; until: number }> = [];
  readonly coordinatorKills: number[] = [];
  readonly outages: Array<{ at: number; until: number }> = [];
  readonly faults: string[] = [];
  readonly pending: Array<Promise<void>> = [];
  stopped: string | undefined;
  done = false;

  constructor(
    readonly farm: FarmProcesses,
    readonly run: string,
    readonly journal: string,
  ) {}

  async watch(): Promise<RunSummary> {
    const s = await poll(
      async () => {
        const r = await this.farm
          .cliJson<RunSummary>(["run", "show", this.run, "--json"])
          .catch(() => undefined);
        return r !== undefined && r.status !== "running" ? r : undefined;
      },
      { timeoutMs: 15 * 60_000, what: `run ${this.run} to finish`, intervalMs: 100 },
    );
    this.done = true;
    return s;
  }

  /** An agent (not stopped) running a stage of this round now, with those stages; waits up to 15 s. */
  async victim(): Promise<{ agent: string; held: Start[] } | undefined> {
    const deadline = Date.now() + 15_000;
    while (!this.done && Date.now() < deadline) {
      const starts = await readJournal(this.journal);
      const latest = new Map<string, Start>();
      for (const s of starts) latest.set(s.stage, s);
      const running = [...latest.values()].filter((s) => alive(s.pid) && s.agent !== this.stopped);
      const counts = new Map<string, number>();
      for (const s of running) counts.set(s.agent, (counts.get(s.agent) ?? 0) + 1);
      const agent = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
      if (agent !== undefined && this.farm.agents.get(agent)?.alive === true)
        return { agent, held: running.filter((s) => s.agent === agent) };
      await sleep(200);
    }
    return undefined;
  }

  async killAgent(restartAfterMs: number, thenCoordinator: boolean): Promise<void> {
    const v = await this.victim();
    if (v === undefined) return;
    await this.farm.killAgent(v.agent, "SIGKILL");
    const kill: Kill = { agent: v.agent, at: Date.now(), held: v.held, coordinatorRestart: false };
    this.kills.push(kill);
    this.faults.push(`agent ${v.agent} SIGKILL (${v.held.map((s) => s.stage).join(",")})`);
    const restart = async (): Promise<void> => {
      if (restartAfterMs > 0) await sleep(restartAfterMs);
      await this.farm.startAgent(v.agent, ["x86_64"], SLOTS);
    };
    if (thenCoordinator) {
      await this.killCoordinator();
      kill.coordinatorRestart = true;
    }
    this.pending.push(restart());
  }

  async killCoordinator(): Promise<void> {
    if (this.done) return;
    await this.farm.killCoordinator("SIGKILL");
    this.coordinatorKills.push(Date.now());
    this.faults.push("coordinator SIGKILL");
    await sleep(500);
    await this.farm.startCoordinator();
  }

  async restartNats(): Promise<void> {
    if (this.done) return;
    this.farm.step("restarting nats-server");
    await this.farm.nats.restart();
    this.faults.push("nats-server restart");
  }

  async stopAgent(): Promise<void> {
    const v = await this.victim();
    if (v === undefined) return;
    this.stopped = v.agent;
    this.farm.stopAgent(v.agent);
    const at = Date.now();
    this.faults.push(`agent ${v.agent} SIGSTOP ${(LEASE_MS + 5000) / 1000}s`);
    await sleep(LEASE_MS + 5000);
    this.farm.contAgent(v.agent);
    this.stops.push({ agent: v.agent, at, until: Date.now() });
    this.stopped = undefined;
  }

  async s3Outage(ms: number): Promise<void> {
    if (this.done) return;
    this.farm.step("stopping the S3 server");
    await this.farm.s3.stop();
    this.faults.push(`S3 outage ${ms / 1000}s`);
    const at = Date.now();
    await sleep(ms);
    this.farm.step("starting the S3 server again");
    await this.farm.s3.restart();
    this.outages.push({ at, until: Date.now() });
  }
}

async function playRound(
  farm: FarmProcesses,
  n: number,
  dag: DagStage[],
  plan: Plan,
  calm: RunSummary,
): Promise<Round> {
  const journal = join(farm.dir, `journal-${n}.txt`);
  await writeFile(journal, "");
  const file = await farm.writePipeline(`round-${n}.yaml`, dagPipeline(dag, journal));
  const t0 = Date.now();
  const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
  const r = new RoundRunner(farm, run, journal);
  const finished = r.watch();
  await r.victim();

  // The schedule: a few seconds between faults, each skipped once the run is over. An agent
  // restarted after the lease is followed by a quiet lease, so that its re-dispatch delay is
  // measured without the next fault in it; the S3 outage is excluded from the delays anyway.
  const quiet = () => sleep(LEASE_MS + 3000);
  const steps: Array<() => Promise<void>> = plan.quick
    ? [
        () => r.killAgent(0, false),
        () => r.killCoordinator(),
        () => r.stopAgent(),
        () => r.killAgent(LEASE_MS + 2000, true),
        quiet,
        () => r.restartNats(),
        () => r.s3Outage(plan.outageMs),
      ]
    : [
        () => r.killAgent(0, false),
        () => r.killCoordinator(),
        () => r.killAgent(LEASE_MS + 2000, true),
        () => r.stopAgent(),
        () => r.killAgent(0, false),
        () => r.restartNats(),
        () => r.killCoordinator(),
        () => r.killAgent(LEASE_MS + 2000, false),
        quiet,
        () => r.s3Outage(plan.outageMs),
        () => r.killAgent(0, true),
      ];
  for (const step of steps) {
    if (r.done) break;
    await step();
    await sleep(3000);
  }
  const summary = await finished;
  await Promise.all(r.pending);
  const wallMs = Date.now() - t0;

  // Accounting.
  const starts = await readJournal(journal);
  const byStage = new Map<string, Start[]>();
  for (const s of starts) byStage.set(s.stage, [...(byStage.get(s.stage) ?? []), s]);
  const lost = dag
    .map((s) => s.name)
    .filter((s) => !["done", "cached"].includes(summary.results[s]?.state ?? ""));
  const duplicates: string[] = [];
  for (const [stage, res] of Object.entries(summary.results)) {
    const attempts = (res as { attempts?: Attempts }).attempts ?? [];
    const accepted = attempts.flatMap((a) => a.dispatches).filter((d) => d.end === "finished");
    if (accepted.length > 1) duplicates.push(`${stage} (${accepted.map((d) => d.agent ?? "?").join(",")})`);
  }
  const unexplained: string[] = [];
  for (const [stage, list] of byStage) {
    for (let i = 1; i < list.length; i++) {
      const next = list[i];
      const explained = list.slice(0, i).some((prev) => {
        const end = next?.at ?? Infinity;
        return (
          r.kills.some((k) => k.agent === prev.agent && k.at >= prev.at && k.at <= end) ||
          r.stops.some((s) => s.agent === prev.agent && s.until >= prev.at && s.at <= end)
        );
      });
      if (!explained) unexplained.push(`${stage}#${i + 1} on ${next?.agent ?? "?"}`);
    }
  }
  const delays = { plain: [] as number[], restarted: [] as number[], inOutage: 0 };
  for (const k of r.kills) {
    for (const h of k.held) {
      const again = (byStage.get(h.stage) ?? []).find((s) => s.at > k.at);
      if (again === undefined) continue; // its result was in before the kill
      // The coordinator holds dispatch while the store is down: such a delay measures the outage.
      if (r.outages.some((o) => o.at <= again.at && o.until >= k.at)) {
        delays.inOutage += 1;
        continue;
      }
      const restarted = k.coordinatorRestart || r.coordinatorKills.some((c) => c >= k.at && c <= again.at);
      (restarted ? delays.restarted : delays.plain).push(again.at - k.at);
    }
  }
  const stale = farm.processes
    .filter((p) => p.name.startsWith("coordinator"))
    .flatMap((p) => p.logRecords)
    .filter(
      (l) =>
        l["msg"] === "rejected a result from an agent that does not own the current dispatch" &&
        String(l["key"]).startsWith(`stages.${run}.`),
    ).length;
  const digestDiffs = dag
    .map((s) => s.name)
    .filter((s) => summary.results[s]?.outputs["x"]?.digest !== calm.results[s]?.outputs["x"]?.digest);
  return {
    n,
    status: summary.status,
    faults: r.faults,
    lost,
    duplicates,
    executions: starts.length,
    extra: starts.length - byStage.size,
    unexplained,
    stale,
    delays,
    digestDiffs,
    wallMs,
  };
}

const max = (xs: number[]): string => (xs.length === 0 ? "–" : `${(Math.max(...xs) / 1000).toFixed(1)} s`);

function table(rounds: Round[], stages: number): string {
  const count = (r: Round, re: RegExp) => r.faults.filter((f) => re.test(f)).length;
  const rows = rounds.map((r) => [
    String(r.n),
    r.status,
    `${count(r, /^agent .* SIGKILL/)}/${count(r, /^coordinator/)}/${count(r, /^nats/)}/${count(r, /SIGSTOP/)}/${count(r, /^S3/)}`,
    String(r.lost.length),
    String(r.duplicates.length),
    `${r.executions} (${r.extra} extra)`,
    String(r.unexplained.length),
    String(r.stale),
    `${max(r.delays.plain)} (n=${r.delays.plain.length})`,
    `${max(r.delays.restarted)} (n=${r.delays.restarted.length})`,
    String(r.delays.inOutage),
    String(r.digestDiffs.length),
    `${(r.wallMs / 1000).toFixed(0)} s`,
  ]);
  const sum = (f: (r: Round) => number) => String(rounds.reduce((a, r) => a + f(r), 0));
  rows.push([
    "total",
    `${rounds.filter((r) => r.status === "succeeded").length}/${rounds.length} succeeded`,
    `${sum((r) => count(r, /^agent .* SIGKILL/))}/${sum((r) => count(r, /^coordinator/))}/${sum((r) => count(r, /^nats/))}/${sum((r) => count(r, /SIGSTOP/))}/${sum((r) => count(r, /^S3/))}`,
    sum((r) => r.lost.length),
    sum((r) => r.duplicates.length),
    `${sum((r) => r.executions)} (${sum((r) => r.extra)} extra)`,
    sum((r) => r.unexplained.length),
    sum((r) => r.stale),
    `${max(rounds.flatMap((r) => r.delays.plain))} (n=${sum((r) => r.delays.plain.length)})`,
    `${max(rounds.flatMap((r) => r.delays.restarted))} (n=${sum((r) => r.delays.restarted.length)})`,
    sum((r) => r.delays.inOutage),
    sum((r) => r.digestDiffs.length),
    `${(rounds.reduce((a, r) => a + r.wallMs, 0) / 1000).toFixed(0)} s`,
  ]);
  const head = [
    "round",
    "run",
    "faults (agent kill/coord kill/nats/stop/S3)",
    "stages lost",
    "dup. acceptances",
    `executions (${stages} stages)`,
    "unexplained extra",
    "stale rejected",
    "max re-dispatch after kill",
    "… with coord restart",
    "re-dispatches in S3 outage (not in max)",
    "digests ≠ calm",
    "wall",
  ];
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "3" }, quick: { type: "boolean", default: false } },
  });
  const rounds = values.quick ? 1 : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new StagefarmError("invalid_argument", `--rounds wants a positive integer, not ${values.rounds}`);
  const plan: Plan = values.quick
    ? { quick: true, stages: 20, outageMs: 10_000 }
    : { quick: false, stages: 40, outageMs: 30_000 };
  const dag = makeDag(plan.stages);
  const results: Round[] = [];
  let failures: string[] = [];
  await withFarm(
    {
      leaseTtl: `${LEASE_MS / 1000}s`,
      heartbeat: "2s",
      agents: AGENTS.map((id) => ({ id, slots: SLOTS })),
    },
    async (farm) => {
      // The calm run: the same DAG on the embedded farm (its own journal, so other cache keys).
      const calmFile = await farm.writePipeline(
        "calm.yaml",
        dagPipeline(dag, join(farm.dir, "journal-calm.txt")),
      );
      const calmRun = farm.cliJson<RunSummary>(["run", calmFile, "--json", "--jobs", String(SLOTS * 3)], {
        timeoutMs: 10 * 60_000,
      });
      for (let n = 1; n <= rounds; n++) {
        const calm = await calmRun;
        if (calm.status !== "succeeded") throw new StagefarmError("internal", `the calm run ${calm.status}`);
        const round = await playRound(farm, n, dag, plan, calm);
        results.push(round);
        process.stderr.write(`round ${n}: ${JSON.stringify(round)}\n`);
      }
      failures = results.flatMap((r) => [
        ...(r.status === "succeeded" ? [] : [`round ${r.n}: run ${r.status}`]),
        ...r.lost.map((s) => `round ${r.n}: stage ${s} lost`),
        ...r.duplicates.map((s) => `round ${r.n}: ${s} accepted twice`),
        ...r.unexplained.map((s) => `round ${r.n}: unexplained execution ${s}`),
        ...r.digestDiffs.map((s) => `round ${r.n}: ${s} output differs from the calm run`),
      ]);
      // No coordinator or agent ended but by our SIGKILL.
      for (const p of farm.processes)
        if (/^(coordinator|agent)/.test(p.name) && !p.alive && p.status !== "killed by SIGKILL")
          failures.push(`${p.name} (pid ${p.pid}) crashed: ${p.status}`);
      if (failures.length > 0) process.stderr.write(`${farm.diagnostics(20_000)}\n`);
    },
  );
  process.stdout.write(`${table(results, plan.stages)}\n`);
  for (const f of failures) process.stdout.write(`FAILED: ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = StagefarmError.from(err);
    process.stderr.write(`fault campaign: ${e.code}: ${e.message}\n`);
    process.exit(1);
  },
);
