/**
 * A distributed farm made of real OS processes for end-to-end tests: `nats-server`, s3rver, the
 * built `stagefarm coordinator` and N `stagefarm agent`s, each on random loopback ports with
 * temp dirs and a fresh NATS prefix. Faults are injected with signals (SIGKILL a coordinator or
 * an agent, SIGSTOP/SIGCONT an agent, restart nats-server); clients are the built CLI.
 *
 *   await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
 *     const r = await farm.cli(["submit", file, "--watch", "--json"]);
 *   });
 *
 * Every process's stdout and stderr is kept in memory; {@link withFarm} appends them to the
 * error when the test fails. Teardown (also on failure) stops every process (SIGTERM, SIGKILL
 * after a grace), kills stage processes orphaned by a SIGKILLed agent, and fails when any other
 * process of this farm (found in /proc by its environment marker or its working directory) is
 * left behind.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";
import { cliPath, repoRoot, type CliResult } from "./cli.js";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";
import { startS3rver, type S3rverHandle } from "./s3rver.js";

export interface FarmOptions {
  /** Coordinator lease TTL (default 3s). */
  leaseTtl?: string;
  /** Agent heartbeat interval (default 500ms). */
  heartbeat?: string;
  /** Redelivery of an unclaimed job (default 3s). */
  jobAckWait?: string;
  /** Start the coordinator at once (default true). */
  coordinator?: boolean;
  /** Agents started at once, after the coordinator. */
  agents?: AgentSpec[];
}

export interface AgentSpec {
  id: string;
  labels?: string[];
  slots?: number;
}

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

const OUTPUT_LIMIT = 1 << 20;
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/** Polls `fn` until it returns something other than undefined; fails naming `what` after `ms`. */
export async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new StagefarmError("timeout", `timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string")
    throw new StagefarmError("internal", "could not pick a free port");
  return address.port;
}

/** One child process of the farm, with its output kept in memory. */
export class FarmProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #output = "";
  #status: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", keep);
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

export class FarmProcesses implements AsyncDisposable {
  coordinator: FarmProcess | undefined;
  readonly agents = new Map<string, FarmProcess>();
  /** Every process started, in order (restarted ones too), for diagnostics and teardown. */
  readonly processes: FarmProcess[] = [];
  /** Agents killed with SIGKILL: stage processes they leave are expected orphans. */
  private readonly crashedAgents = new Set<string>();
  private closed: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly nats: NatsServerHandle,
    readonly s3: S3rverHandle,
    readonly prefix: string,
    readonly grpcPort: number,
    readonly httpPort: number,
    private readonly opts: FarmOptions,
  ) {}

  static async start(opts: FarmOptions = {}): Promise<FarmProcesses> {
    const dir = await mkdtemp(join(tmpdir(), "sf-farm-"));
    let nats: NatsServerHandle | undefined;
    let s3: S3rverHandle | undefined;
    try {
      nats = await startNatsServer();
      s3 = await startS3rver();
      const grpcPort = await freePort();
      let httpPort = await freePort();
      while (httpPort === grpcPort) httpPort = await freePort();
      const prefix = `e2e${randomBytes(5).toString("hex")}`;
      const farm = new FarmProcesses(dir, nats, s3, prefix, grpcPort, httpPort, opts);
      try {
        if (opts.coordinator !== false) await farm.startCoordinator();
        for (const a of opts.agents ?? []) await farm.startAgent(a.id, a.labels, a.slots);
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        await farm.close().catch(() => undefined);
        throw new StagefarmError(e.code, `${e.message}\n${farm.diagnostics()}`, { cause: err });
      }
      return farm;
    } catch (err: unknown) {
      await Promise.allSettled([nats?.[Symbol.asyncDispose](), s3?.[Symbol.asyncDispose]()]);
      await rm(dir, { recursive: true, force: true });
      throw StagefarmError.from(err);
    }
  }

  /** The coordinator's gRPC address (the same across coordinator restarts). */
  get address(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Marks every process of this farm (and its CLI clients) for the leak check. */
  private get marker(): string {
    return `SF_E2E_FARM=${this.prefix}`;
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
    return {
      ...env,
      NO_COLOR: "1",
      SF_E2E_FARM: this.prefix,
      STAGEFARM_NATS_URL: this.nats.url,
      STAGEFARM_S3_URL: this.s3.url,
      STAGEFARM_PREFIX: this.prefix,
      STAGEFARM_COORDINATOR: this.address,
      STAGEFARM_JOB_ACK_WAIT: this.opts.jobAckWait ?? "3s",
      STAGEFARM_STORE: join(this.dir, "client-store"),
      STAGEFARM_WORK_DIR: join(this.dir, "client-work"),
      ...extra,
    };
  }

  private spawn(name: string, args: string[], env: Record<string, string>): FarmProcess {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: this.env(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new FarmProcess(name, child);
    this.processes.push(p);
    return p;
  }

  /** Starts a coordinator on the farm's fixed ports; resolves when it serves gRPC. */
  async startCoordinator(): Promise<FarmProcess> {
    if (this.coordinator?.alive === true) throw new StagefarmError("invalid_argument", "coordinator running");
    const n = this.processes.filter((p) => p.name.startsWith("coordinator")).length + 1;
    const p = this.spawn(
      `coordinator#${n}`,
      ["coordinator", "--listen", this.address, "--http", `127.0.0.1:${this.httpPort}`],
      { STAGEFARM_LEASE_TTL: this.opts.leaseTtl ?? "3s" },
    );
    this.coordinator = p;
    await this.waitForLog(p, /stagefarm coordinator: gRPC on/, START_TIMEOUT_MS);
    return p;
  }

  async killCoordinator(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await this.coordinator?.stop(signal, STOP_GRACE_MS);
  }

  /** Starts an agent; resolves once it has started pulling jobs. */
  async startAgent(id: string, labels: string[] = ["x86_64"], slots = 1): Promise<FarmProcess> {
    if (this.agents.get(id)?.alive === true)
      throw new StagefarmError("invalid_argument", `agent ${id} is running`);
    const workDir = this.agentWorkDir(id);
    await mkdir(workDir, { recursive: true });
    const p = this.spawn(
      `agent ${id}`,
      ["agent", "--id", id, "--labels", labels.join(","), "--slots", String(slots), "--work-dir", workDir],
      { STAGEFARM_HEARTBEAT: this.opts.heartbeat ?? "500ms", STAGEFARM_DRAIN_TIMEOUT: "1s" },
    );
    this.agents.set(id, p);
    this.crashedAgents.delete(id);
    await this.waitForLog(p, /stagefarm agent /, START_TIMEOUT_MS);
    return p;
  }

  agentWorkDir(id: string): string {
    return join(this.dir, "agents", id);
  }

  private agent(id: string): FarmProcess {
    const p = this.agents.get(id);
    if (p === undefined) throw new StagefarmError("not_found", `no agent ${id} in this farm`);
    return p;
  }

  /** Kills an agent (SIGKILL: a crash; its stage processes are orphaned like on a dead host). */
  async killAgent(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (signal === "SIGKILL") this.crashedAgents.add(id);
    await this.agent(id).stop(signal, STOP_GRACE_MS);
  }

  /** SIGSTOP: the agent stalls (no heartbeats, no reports) while its stage processes run on. */
  stopAgent(id: string): void {
    this.agent(id).signal("SIGSTOP");
  }

  contAgent(id: string): void {
    this.agent(id).signal("SIGCONT");
  }

  /** Runs the CLI against this farm's coordinator. */
  cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [cliPath, ...args],
        { cwd: repoRoot, env: this.env({}), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Runs the CLI and parses the JSON on the last line of its stdout; fails on a non-zero exit. */
  async cliJson<T>(args: string[], opts: { timeoutMs?: number; allowExit?: number[] } = {}): Promise<T> {
    const r = await this.cli(args, opts);
    if (r.code !== 0 && !(opts.allowExit ?? []).includes(r.code))
      throw new StagefarmError(
        "internal",
        `stagefarm ${args.join(" ")} exited with ${r.code}:\n${r.stderr}\n${r.stdout}`,
      );
    const last = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(last) as T;
    } catch (err: unknown) {
      throw new StagefarmError(
        "internal",
        `stagefarm ${args.join(" ")} printed no JSON on its last line:\n${r.stdout}\n${r.stderr}`,
        { cause: err },
      );
    }
  }

  /** Writes a pipeline file into the farm's temp dir; returns its path. */
  async writePipeline(name: string, yaml: string): Promise<string> {
    const file = join(this.dir, "pipelines", name);
    await mkdir(join(this.dir, "pipelines"), { recursive: true });
    await writeFile(file, yaml);
    return file;
  }

  /** Waits for `re` in a process's output; fails at once if the process exits first. */
  async waitForLog(p: FarmProcess, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return until(
      () => {
        const m = re.exec(p.output);
        if (m !== null) return m;
        if (!p.alive)
          throw new StagefarmError("unavailable", `${p.name} ${p.status} before printing ${String(re)}`);
        return undefined;
      },
      timeoutMs,
      `${p.name} to print ${String(re)}`,
    );
  }

  /** The coordinator's /metrics text. */
  async metrics(): Promise<string> {
    const res = await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.text();
  }

  /** The sum of a metric's samples on the coordinator's /metrics (0 when absent). */
  async metric(name: string): Promise<number> {
    let sum = 0;
    for (const line of (await this.metrics()).split("\n")) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? (\S+)$/.exec(line);
      if (m?.[1] === name) sum += Number(m[2]);
    }
    return sum;
  }

  /** Every process's status and recent output, for an assertion message. */
  diagnostics(tailChars = 6000): string {
    const parts = this.processes.map(
      (p) => `--- ${p.name} (pid ${p.pid}, ${p.status}) ---\n${p.output.slice(-tailChars)}`,
    );
    parts.push(`--- nats-server ---\n${this.nats.output().slice(-2000)}`);
    return `farm ${this.prefix} in ${this.dir}\n${parts.join("\n")}`;
  }

  /** The processes of this farm still alive in /proc (other than the ones it is tracking). */
  async leftovers(): Promise<Array<{ pid: number; cmdline: string; cwd: string }>> {
    const found: Array<{ pid: number; cmdline: string; cwd: string }> = [];
    for (const name of await readdir("/proc")) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      try {
        const environ = await readFile(`/proc/${pid}/environ`, "latin1");
        const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => "");
        if (!environ.split("\0").includes(this.marker) && !cwd.startsWith(this.dir)) continue;
        const stat = await readFile(`/proc/${pid}/stat`, "latin1");
        if (/^\d+ \(.*\) Z /s.test(stat)) continue; // a zombie about to be reaped
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, "latin1")).split("\0").join(" ").trim();
        found.push({ pid, cmdline, cwd });
      } catch {
        // the process exited while we looked
      }
    }
    return found;
  }

  /**
   * Stops everything: agents and coordinator (SIGTERM, SIGKILL after a grace), orphaned stage
   * processes of crashed agents, nats-server and s3rver; removes the temp dir. Throws when a
   * process of this farm was left running (it is killed first).
   */
  async close(): Promise<void> {
    this.closed ??= (async () => {
      const live = this.processes.filter((p) => p.alive);
      for (const p of live) p.signal("SIGCONT");
      await Promise.allSettled(live.map((p) => p.stop("SIGTERM", STOP_GRACE_MS)));
      let leaks: Array<{ pid: number; cmdline: string; cwd: string }> = [];
      try {
        const crashedDirs = [...this.crashedAgents].map((id) => this.agentWorkDir(id));
        for (let i = 0; i < 20; i++) {
          const left = await this.leftovers();
          for (const l of left) {
            try {
              process.kill(l.pid, "SIGKILL");
            } catch {
              // already gone
            }
          }
          leaks.push(...left.filter((l) => !crashedDirs.some((d) => l.cwd.startsWith(d))));
          if (left.length === 0) break;
          await sleep(100);
        }
        leaks = [...new Map(leaks.map((l) => [l.pid, l])).values()];
      } finally {
        await Promise.allSettled([this.nats[Symbol.asyncDispose](), this.s3[Symbol.asyncDispose]()]);
        await rm(this.dir, { recursive: true, force: true });
      }
      if (leaks.length > 0)
        throw new StagefarmError(
          "internal",
          `farm ${this.prefix} left processes behind:\n${leaks.map((l) => `  ${l.pid} ${l.cmdline} (cwd ${l.cwd})`).join("\n")}`,
        );
    })();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts a farm, runs `body`, and always tears the farm down. A failure of `body` is rethrown
 * with every process's output appended; a leak found at teardown fails the test too.
 */
export async function withFarm(opts: FarmOptions, body: (farm: FarmProcesses) => Promise<void>): Promise<void> {
  const farm = await FarmProcesses.start(opts);
  let failure: StagefarmError | undefined;
  try {
    await body(farm);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    failure = new StagefarmError(e.code, `${e.message}\n\n${farm.diagnostics()}`, { cause: err });
  }
  try {
    await farm.close();
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (failure === undefined) throw new StagefarmError(e.code, `${e.message}\n\n${farm.diagnostics()}`);
    failure = new StagefarmError(failure.code, `${failure.message}\n\nteardown: ${e.message}`, {
      cause: failure.cause,
    });
  }
  if (failure !== undefined) throw failure;
}
