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
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { cliPath, repoRoot, type CliResult } from "./cli.js";
import { coordinatorPorts, FarmProcess, listProcesses, reap, type ProcessInfo } from "./farm-process.js";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";
import { startS3rver, type S3rverHandle } from "./s3rver.js";
import { poll } from "./poll.js";

export {
  FarmProcess,
  fanoutExpected,
  fanoutPipeline,
  listProcesses,
  type ProcessInfo,
  type RunSummary,
} from "./farm-process.js";

export interface FarmOptions {
  /** Coordinator lease TTL (default 3s). */
  leaseTtl?: string;
  /** Agent heartbeat interval (default 500ms). */
  heartbeat?: string;
  /** Redelivery of an unclaimed job (default 3s). */
  jobAckWait?: string;
  /** Agents started at once, after the coordinator. */
  agents?: AgentSpec[];
  /** Extra environment of the coordinator (e.g. STAGEFARM_AUTH for tokens and roles). */
  coordinatorEnv?: Record<string, string>;
  /** Extra environment of the coordinator and every agent (e.g. STAGEFARM_S3_RETRIES). */
  farmEnv?: Record<string, string>;
}

export interface AgentSpec {
  id: string;
  labels?: string[];
  slots?: number;
}

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export class FarmProcesses implements AsyncDisposable {
  coordinator: FarmProcess | undefined;
  readonly agents = new Map<string, FarmProcess>();
  /** Every process started, in order (restarted ones too), for diagnostics and teardown. */
  readonly processes: FarmProcess[] = [];
  /** Agents killed with SIGKILL: stage processes they leave are expected orphans. */
  private readonly crashedAgents = new Set<string>();
  /** What the test did, with times, for diagnostics. */
  private readonly steps: string[] = [];
  private readonly t0 = Date.now();
  private closed: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly nats: NatsServerHandle,
    readonly s3: S3rverHandle,
    readonly prefix: string,
    private readonly opts: FarmOptions,
  ) {}

  /**
   * The coordinator's ports: 0 until the first coordinator bound port 0 and printed what it got;
   * a restarted coordinator asks for the same ones, so the farm's address stays the same.
   */
  grpcPort = 0;
  httpPort = 0;

  static async start(opts: FarmOptions = {}): Promise<FarmProcesses> {
    const dir = await mkdtemp(join(tmpdir(), "sf-farm-"));
    let nats: NatsServerHandle | undefined;
    let s3: S3rverHandle | undefined;
    try {
      nats = await startNatsServer(); // ~20 ms; s3rver, a node process, takes longer
      s3 = await startS3rver();
      const prefix = `e2e${randomBytes(5).toString("hex")}`;
      const farm = new FarmProcesses(dir, nats, s3, prefix, opts);
      try {
        // The coordinator first: it creates the bucket (processes creating it at once race, see
        // the report on S3Bucket.ensureBucket); then the agents, all at once.
        await farm.startCoordinator();
        const started = await Promise.allSettled(
          (opts.agents ?? []).map((a) => farm.startAgent(a.id, a.labels, a.slots)),
        );
        for (const r of started) if (r.status === "rejected") throw StagefarmError.from(r.reason);
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

  /** The coordinator's gRPC address (the same across coordinator restarts; port 0 before the first). */
  get address(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
    return {
      ...env,
      NO_COLOR: "1",
      SF_E2E_FARM: this.prefix, // marks the farm's processes for the leak check
      STAGEFARM_NATS_URL: this.nats.url,
      STAGEFARM_S3_URL: this.s3.url,
      STAGEFARM_PREFIX: this.prefix,
      STAGEFARM_COORDINATOR: this.address,
      STAGEFARM_JOB_ACK_WAIT: this.opts.jobAckWait ?? "3s",
      STAGEFARM_STORE: join(this.dir, "client-store"),
      STAGEFARM_WORK_DIR: join(this.dir, "client-work"),
      ...this.opts.farmEnv,
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

  /**
   * Starts a coordinator (the first on port 0, a restarted one on the ports the first got);
   * resolves when it serves gRPC and HTTP, with the bound ports read from its ready line.
   */
  async startCoordinator(): Promise<FarmProcess> {
    if (this.coordinator?.alive === true) throw new StagefarmError("invalid_argument", "coordinator running");
    const n = this.processes.filter((p) => p.name.startsWith("coordinator")).length + 1;
    const p = this.spawn(
      `coordinator#${n}`,
      ["coordinator", "--listen", this.address, "--http", `127.0.0.1:${this.httpPort}`],
      { STAGEFARM_LEASE_TTL: this.opts.leaseTtl ?? "3s", ...this.opts.coordinatorEnv },
    );
    this.coordinator = p;
    ({ grpcPort: this.grpcPort, httpPort: this.httpPort } = await coordinatorPorts(p, START_TIMEOUT_MS));
    this.step(`${p.name} ready (pid ${p.pid})`);
    return p;
  }

  async killCoordinator(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    this.step(`${signal} to the coordinator`);
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
      // Labels here name pools (a `catalyst` agent runs shell stages): keep them without their tools.
      {
        STAGEFARM_HEARTBEAT: this.opts.heartbeat ?? "500ms",
        STAGEFARM_DRAIN_TIMEOUT: "1s",
        STAGEFARM_MISSING_TOOLS: "warn",
      },
    );
    this.agents.set(id, p);
    this.crashedAgents.delete(id);
    await this.waitForLog(p, /stagefarm agent /, START_TIMEOUT_MS);
    this.step(`${p.name} ready (pid ${p.pid})`);
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
    this.step(`${signal} to agent ${id}`);
    await this.agent(id).stop(signal, STOP_GRACE_MS);
  }

  /** SIGSTOP: the agent stalls (no heartbeats, no reports) while its stage processes run on. */
  stopAgent(id: string): void {
    this.step(`SIGSTOP to agent ${id}`);
    this.agent(id).signal("SIGSTOP");
  }

  contAgent(id: string): void {
    this.step(`SIGCONT to agent ${id}`);
    this.agent(id).signal("SIGCONT");
  }

  /** The environment the CLI gets to reach this farm's coordinator. */
  cliEnv(): NodeJS.ProcessEnv {
    return this.env({});
  }

  /** Runs the CLI against this farm's coordinator. */
  cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [cliPath, ...args],
        { cwd: repoRoot, env: this.env({}), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          this.step(`cli ${args.join(" ")} → ${code} in ${Date.now() - started} ms`);
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Starts the CLI as a tracked process (e.g. `submit --watch`), to follow its output while it runs. */
  spawnCli(args: string[]): FarmProcess {
    this.step(`cli ${args.join(" ")} (spawned)`);
    return this.spawn(`cli ${args[0] ?? ""}`, args, {});
  }

  /** Runs the CLI and parses the JSON on the last line of its stdout; fails on a non-zero exit. */
  async cliJson<T>(args: string[], opts: { timeoutMs?: number } = {}): Promise<T> {
    const r = await this.cli(args, opts);
    const what = `stagefarm ${args.join(" ")} (exit ${r.code}):\n${r.stderr}\n${r.stdout}`;
    if (r.code !== 0) throw new StagefarmError("internal", `failed: ${what}`);
    try {
      return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as T;
    } catch (err: unknown) {
      throw new StagefarmError("internal", `no JSON on the last line: ${what}`, { cause: err });
    }
  }

  /**
   * Waits until an agent claimed one of `stages` of `run` (the coordinator's log) and the stage's
   * process runs in that agent's work dir; returns the stage and the agent.
   */
  async runningStage(run: string, stages: string[]): Promise<{ stage: string; agent: string }> {
    const keys = new Map(stages.map((s) => [`stages.${run}.${s}`, s]));
    const claim = await poll(
      () =>
        this.coordinator?.logRecords.find((r) => r["msg"] === "stage claimed" && keys.has(String(r["key"]))),
      { timeoutMs: 30_000, what: `an agent to claim one of ${stages.join(", ")}`, intervalMs: 100 },
    );
    const agent = String(claim["agent"]);
    const dir = this.agentWorkDir(agent);
    await poll(async () => ((await listProcesses()).some((p) => p.cwd.startsWith(dir)) ? true : undefined), {
      timeoutMs: 30_000,
      what: `a stage process of ${agent}`,
      intervalMs: 100,
    });
    this.step(`a stage of ${run} runs on ${agent}`);
    return { stage: keys.get(String(claim["key"])) ?? "", agent };
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
    return poll(
      () => {
        const m = re.exec(p.output);
        if (m !== null) return m;
        if (!p.alive)
          throw new StagefarmError("unavailable", `${p.name} ${p.status} before printing ${String(re)}`);
        return undefined;
      },
      { timeoutMs: timeoutMs, what: `${p.name} to print ${String(re)}`, intervalMs: 100 },
    );
  }

  /** Records a step of the test (shown with its time in the diagnostics). */
  step(what: string): void {
    this.steps.push(`+${((Date.now() - this.t0) / 1000).toFixed(1)}s ${what}`);
  }

  /** The sum of a metric's samples on the coordinator's /metrics (0 when absent). */
  async metric(name: string): Promise<number> {
    const res = await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    let sum = 0;
    for (const line of (await res.text()).split("\n")) {
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
    return `farm ${this.prefix} in ${this.dir}\n--- steps ---\n${this.steps.join("\n")}\n${parts.join("\n")}`;
  }

  /**
   * Stops everything: agents and coordinator (SIGTERM, SIGKILL after a grace), orphaned stage
   * processes of crashed agents, nats-server and s3rver; removes the temp dir. Throws when a
   * process of this farm was left running (it is killed first).
   */
  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.step("teardown");
      const live = this.processes.filter((p) => p.alive);
      for (const p of live) p.signal("SIGCONT");
      await Promise.allSettled(live.map((p) => p.stop("SIGTERM", STOP_GRACE_MS)));
      const crashed = [...this.crashedAgents].map((id) => this.agentWorkDir(id));
      let leaks: ProcessInfo[];
      try {
        leaks = await reap(
          (p) => p.environ.includes(`SF_E2E_FARM=${this.prefix}`) || p.cwd.startsWith(this.dir),
          (p) => crashed.some((d) => p.cwd.startsWith(d)),
        );
      } finally {
        await Promise.allSettled([this.nats[Symbol.asyncDispose](), this.s3[Symbol.asyncDispose]()]);
        await rm(this.dir, { recursive: true, force: true });
      }
      const listed = leaks.map((l) => `  ${l.pid} ${l.argv.join(" ")} (cwd ${l.cwd})`);
      if (listed.length > 0)
        throw new StagefarmError(
          "internal",
          `farm ${this.prefix} left processes behind:\n${listed.join("\n")}`,
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
export async function withFarm(
  opts: FarmOptions,
  body: (farm: FarmProcesses) => Promise<void>,
): Promise<void> {
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
