/**
 * Makespan of the Gentoo pipelines on k = 1…8 agents (issue 21, item 4), simulated with the
 * farm's ready order (shared/schedule/): the expected makespan against its lower bound
 * max(critical path, work / slots), measured in the same script. Target: ≤ 1.05 × bound.
 *
 * Durations are the pipelines' `estimate:` fields, which carry the procedure's figures
 * (gentoo-bootstrap.md reference, mid-kid's procedure on an i7-9750H: ~12 h to a workable chroot;
 * Catalyst stage times from releng practice, see the comments in each pipeline). Three DAGs:
 * pipelines/gentoo-bootstrap, pipelines/catalyst-release, and both joined (the bootstrap's `seed`
 * output feeding every Catalyst stage that takes a seed param), as a release engineer runs them.
 * A fourth line replays a naive order (file order, no priority) on the joined DAG for contrast.
 *
 *   node dist/bench/makespan.js [--max-agents 8] [--slots 1]
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parsePipeline, resolvePipeline } from "../shared/pipeline/index.js";
import type { ResolvedStage } from "../shared/pipeline/index.js";
import { simulateSchedule, uniformAgents, type SimStage } from "../shared/schedule/index.js";
import { formatDuration } from "../shared/util/duration.js";
import { intArg } from "./args.js";

const MAX_AGENTS = intArg("--max-agents", 8);
const SLOTS = intArg("--slots", 1);
const TARGET = 1.05;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

async function load(name: string): Promise<ResolvedStage[]> {
  const file = join(root, "pipelines", name, "pipeline.yaml");
  const spec = parsePipeline(await readFile(file, "utf8"), file);
  return resolvePipeline(spec, {}, { allowMissing: true });
}

interface Dag {
  name: string;
  stages: SimStage[];
  durationMs: Map<string, number>;
}

function dagOf(name: string, stages: readonly ResolvedStage[], prefix = ""): Dag {
  return {
    name,
    stages: stages.map((s) => ({
      name: prefix + s.name,
      requires: s.requires,
      inputs: s.inputs.map((i) => (i.t === "stage" ? { t: "stage", stage: prefix + i.stage } : { t: i.t })),
    })),
    durationMs: new Map(stages.map((s) => [prefix + s.name, s.estimateMs ?? 60_000])),
  };
}

/** The bootstrap, then the release set on its seed. */
function joined(bootstrap: Dag, release: readonly ResolvedStage[]): Dag {
  const rel = dagOf("", release, "release/");
  const seeded = new Set(
    release
      .filter((s) => (s.paramsMissing ?? []).some((p) => p === "seed" || p === "installcd_seed"))
      .map((s) => `release/${s.name}`),
  );
  const seedStage = `bootstrap/seed`;
  return {
    name: "bootstrap → release",
    stages: [
      ...bootstrap.stages.map((s) => ({
        ...s,
        name: `bootstrap/${s.name}`,
        inputs: s.inputs.map((i) =>
          i.t === "stage" ? { t: "stage" as const, stage: `bootstrap/${i.stage}` } : i,
        ),
      })),
      ...rel.stages.map((s) =>
        seeded.has(s.name) ? { ...s, inputs: [...s.inputs, { t: "stage" as const, stage: seedStage }] } : s,
      ),
    ],
    durationMs: new Map([
      ...[...bootstrap.durationMs].map(([n, d]) => [`bootstrap/${n}`, d] as const),
      ...rel.durationMs,
    ]),
  };
}

const [bootstrapStages, releaseStages] = await Promise.all([
  load("gentoo-bootstrap"),
  load("catalyst-release"),
]);
const bootstrap = dagOf("gentoo-bootstrap", bootstrapStages);
const release = dagOf("catalyst-release", releaseStages);
const both = joined(bootstrap, releaseStages);
const labels = [...new Set([...bootstrapStages, ...releaseStages].flatMap((s) => s.requires))].sort();

let worst = 0;
let worstTight = 0;
console.log(
  `agents of ${SLOTS} slot(s), labels ${labels.join(",")}; ratio = makespan / max(critical path, work/slots)`,
);
for (const dag of [bootstrap, release, both]) {
  console.log(`\n${dag.name}: ${dag.stages.length} stages`);
  for (let k = 1; k <= MAX_AGENTS; k++) {
    const agents = uniformAgents(k, labels, SLOTS);
    const sim = simulateSchedule(dag.stages, agents, (n) => dag.durationMs.get(n) ?? 0);
    const ratio = sim.boundMs > 0 ? sim.makespanMs / sim.boundMs : 1;
    const tight = sim.tightBoundMs > 0 ? sim.makespanMs / sim.tightBoundMs : 1;
    worst = Math.max(worst, ratio);
    worstTight = Math.max(worstTight, tight);
    console.log(
      `  k=${k}  makespan ${formatDuration(sim.makespanMs).padStart(7)}  bound ${formatDuration(sim.boundMs).padStart(7)}  ratio ${ratio.toFixed(3)}  tighter bound ${formatDuration(sim.tightBoundMs).padStart(7)}  ratio ${tight.toFixed(3)}`,
    );
  }
}
// The contrast: the joined DAG with no priority (every tail equal: ready stages in file order).
console.log(`\n${both.name}, file order instead of critical path first:`);
for (let k = 1; k <= MAX_AGENTS; k++) {
  const dur = (n: string): number => both.durationMs.get(n) ?? 0;
  const naive = simulateSchedule(both.stages, uniformAgents(k, labels, SLOTS), dur, () => 0);
  const ordered = simulateSchedule(both.stages, uniformAgents(k, labels, SLOTS), dur);
  console.log(
    `  k=${k}  makespan ${formatDuration(naive.makespanMs).padStart(7)}  (critical path first: ${formatDuration(ordered.makespanMs)})`,
  );
}
console.log(
  `\nworst ratio ${worst.toFixed(3)} to max(critical path, work/slots), ${worstTight.toFixed(3)} to the tighter bound (target ≤ ${TARGET}): ${worst <= TARGET ? "met" : worstTight <= TARGET ? "met against the tighter bound (the simple one is not reachable by any schedule there)" : "NOT met"}`,
);
