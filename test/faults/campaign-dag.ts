/**
 * The fault campaign's pipeline and journal: a generated DAG of shell stages (2–6 s each, a few
 * stages wide, each reading one or two stages of the layer before) whose outputs depend only on
 * the stage names and the DAG, and whose scripts append one line per start to a journal file
 * (`<stage> <ms since epoch> <pid> <workspace>`): every execution of every script is counted,
 * whichever agent ran it and whatever happened to that agent afterwards.
 */
import { readFile } from "node:fs/promises";

export interface DagStage {
  name: string;
  seconds: number;
  inputs: string[];
}

/** A deterministic DAG of `count` stages in layers of 2–3 (an LCG seeded with `seed`). */
export function makeDag(count: number, seed = 15): DagStage[] {
  let x = seed;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const stages: DagStage[] = [];
  let previous: string[] = [];
  while (stages.length < count) {
    const width = Math.min(2 + rand(2), count - stages.length);
    const layer: string[] = [];
    for (let i = 0; i < width; i++) {
      const name = `s${String(stages.length).padStart(2, "0")}`;
      const inputs = new Set<string>();
      if (previous.length > 0) {
        inputs.add(previous[rand(previous.length)] ?? "");
        if (rand(2) === 0) inputs.add(previous[rand(previous.length)] ?? "");
      }
      stages.push({ name, seconds: 2 + rand(5), inputs: [...inputs].sort() });
      layer.push(name);
    }
    previous = layer;
  }
  return stages;
}

/** The pipeline YAML of a DAG whose scripts append to `journal` (a path the harness made). */
export function dagPipeline(dag: DagStage[], journal: string): string {
  const quoted = `'${journal.replace(/'/g, "'\\''")}'`;
  const stages = dag.map((s) => {
    const inputs = s.inputs.map((i) => `${i}: { from: ${i}.x, unpack: false }`).join(", ");
    const cats = s.inputs.map((i) => `inputs/${i}`).join(" ");
    return [
      `  ${s.name}:`,
      `    runner: shell`,
      ...(s.inputs.length > 0 ? [`    inputs: { ${inputs} }`] : []),
      `    script: |`,
      `      echo "${s.name} $(date +%s%3N) $$ $PWD" >> ${quoted}`,
      `      sleep ${s.seconds}`,
      `      mkdir -p out`,
      `      { echo "${s.name}"; ${s.inputs.length > 0 ? `cat ${cats};` : ""} } | sha256sum > out/x`,
      `    outputs: { x: out/x }`,
    ].join("\n");
  });
  return `pipeline: fault-campaign\nstages:\n${stages.join("\n")}\n`;
}

/** One line of the journal: a script started. */
export interface Start {
  stage: string;
  at: number;
  pid: number;
  agent: string;
}

/** The journal's lines; the agent is read from the workspace path (`…/agents/<id>/…`). */
export async function readJournal(file: string): Promise<Start[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  const starts: Start[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\d+) (\d+) (.*)$/.exec(line);
    if (m === null) continue;
    const agent = /\/agents\/([^/]+)\//.exec(m[4] ?? "")?.[1] ?? "?";
    starts.push({ stage: m[1] ?? "", at: Number(m[2]), pid: Number(m[3]), agent });
  }
  return starts;
}

/** Whether a process is alive (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
