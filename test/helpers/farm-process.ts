/**
 * Building blocks of the end-to-end farm tests (./farm-processes.ts): one child process with its
 * output kept in memory (for assertion messages and its pino log records), signals and how it
 * ended; the /proc scan that finds processes a farm left behind; the ports a coordinator
 * bound; the CLI's JSON run summary; and the fan-out pipeline the scenarios share.
 */
import type { ChildProcess } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";
import { poll } from "./poll.js";

const OUTPUT_LIMIT = 1 << 20;

/** The JSON summary of `submit --watch --json`, `run show --json` and each row of `runs --json`. */
export interface RunSummary {
  run: string;
  pipeline: string;
  status: string;
  durationMs: number;
  stages: { executed: number; cached: number; failed: number; skipped: number; cancelled: number };
  results: Record<
    string,
    {
      state: string;
      key?: string;
      agent?: string;
      reason?: string;
      error?: string;
      outputs: Record<string, { digest: string; size: number; kind: string }>;
    }
  >;
}

/**
 * `root` writes a file; `leaves` stages each read it (on whichever agent, so through S3), sleep
 * `sleepSeconds` and write a line; `join` concatenates the lines in order and prints them.
 */
export function fanoutPipeline(token: string, leaves: number, sleepSeconds: number): string {
  const ids = Array.from({ length: leaves }, (_, i) => i);
  return `pipeline: fan
stages:
  root:
    runner: shell
    script: mkdir -p out && echo "root-${token}" > out/r
    outputs: { r: out/r }
${ids
  .map(
    (i) => `  leaf${i}:
    runner: shell
    inputs: { r: { from: root.r, unpack: false } }
    script: mkdir -p out && sleep ${sleepSeconds} && echo "leaf${i} on $(cat inputs/r)" > out/o
    outputs: { o: out/o }
`,
  )
  .join("")}  join:
    runner: shell
    inputs: { ${ids.map((i) => `l${i}: { from: leaf${i}.o, unpack: false }`).join(", ")} }
    script: mkdir -p out && cat ${ids.map((i) => `inputs/l${i}`).join(" ")} > out/all && cat out/all
    outputs: { all: out/all }
`;
}

/** The content of the fan-out's `join` output. */
export function fanoutExpected(token: string, leaves: number): string {
  return Array.from({ length: leaves }, (_, i) => `leaf${i} on root-${token}\n`).join("");
}

/**
 * The ports a `stagefarm coordinator` started on port 0 bound, from its ready line ("gRPC on
 * HOST:PORT, HTTP on http(s)://HOST:PORT, …"); fails at once if it exits first.
 */
export async function coordinatorPorts(
  p: FarmProcess,
  timeoutMs = 30_000,
): Promise<{ grpcPort: number; httpPort: number }> {
  return poll(
    () => {
      const m = /stagefarm coordinator: gRPC on \S+:(\d+), HTTP on https?:\/\/\S+:(\d+),/.exec(p.output);
      if (m !== null) return { grpcPort: Number(m[1]), httpPort: Number(m[2]) };
      if (!p.alive)
        throw new StagefarmError("unavailable", `${p.name} ${p.status} before serving:\n${p.output}`);
      return undefined;
    },
    { timeoutMs: timeoutMs, what: `${p.name} to serve`, intervalMs: 100 },
  );
}

/** One child process of the farm, with its output kept in memory. */
export class FarmProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #output = "";
  #stdout = "";
  #status: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      this.#stdout = (this.#stdout + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
      keep(chunk);
    });
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#status = { code, signal };
        resolve(this.#status);
      });
      child.once("error", (err) => {
        keep(Buffer.from(`spawn failed: ${err.message}\n`));
        this.#status = { code: null, signal: null };
        resolve(this.#status);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.#status === undefined;
  }

  /** stdout and stderr as they arrived (the last MiB). */
  get output(): string {
    return this.#output;
  }

  /** stdout alone (the last MiB). */
  get stdout(): string {
    return this.#stdout;
  }

  /** The structured (pino JSON) log records it printed so far. */
  get logRecords(): Array<Record<string, unknown>> {
    const records: Array<Record<string, unknown>> = [];
    for (const line of this.#output.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === "object" && v !== null) records.push(v as Record<string, unknown>);
      } catch {
        // a line cut by the output limit
      }
    }
    return records;
  }

  /** How it ended, for diagnostics ("running" while alive). */
  get status(): string {
    const s = this.#status;
    return s === undefined ? "running" : s.signal !== null ? `killed by ${s.signal}` : `exit ${s.code}`;
  }

  /** Waits for the process to exit; fails after `timeoutMs`. */
  async ended(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StagefarmError("timeout", `${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** Sends `sig`, then SIGKILL after `graceMs` if it is still alive; resolves once it exited. */
  async stop(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    if (!this.alive) return;
    this.child.kill(sig);
    if (sig === "SIGSTOP") return;
    const timer = setTimeout(() => {
      this.child.kill("SIGCONT");
      this.child.kill("SIGKILL");
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A live (not zombie) process seen in /proc. */
export interface ProcessInfo {
  pid: number;
  argv: string[];
  cwd: string;
  environ: string[];
}

/** Every live process but this one (as root, every process's environment and cwd are readable). */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const name of await readdir("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "latin1");
      if (/^\d+ \(.*\) Z /s.test(stat)) continue; // a zombie about to be reaped
      const [argv, environ, cwd] = await Promise.all([
        readFile(`/proc/${pid}/cmdline`, "utf8"),
        readFile(`/proc/${pid}/environ`, "latin1"),
        readlink(`/proc/${pid}/cwd`).catch(() => ""),
      ]);
      found.push({ pid, argv: argv.split("\0").filter((a) => a !== ""), cwd, environ: environ.split("\0") });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

/**
 * SIGKILLs every process matching `match` until none is left (up to ~2 s); returns those of them
 * that were not `expected` (the leaks).
 */
export async function reap(
  match: (p: ProcessInfo) => boolean,
  expected: (p: ProcessInfo) => boolean,
): Promise<ProcessInfo[]> {
  const leaks = new Map<number, ProcessInfo>();
  for (let i = 0; i < 20; i++) {
    const left = (await listProcesses()).filter(match);
    if (left.length === 0) break;
    for (const p of left) {
      if (!expected(p)) leaks.set(p.pid, p);
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
  return [...leaks.values()];
}
