/** Runs the built `stagefarm` CLI as a real process, with its own store and work dirs. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StagefarmError } from "../../shared/errors.js";
import { poll } from "./poll.js";

/** The repository root (tests run from dist/test/...). */
export const repoRoot = resolve(fileURLToPath(import.meta.url), "../../../..");
export const cliPath = join(repoRoot, "dist/cli/main.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CliSandbox implements AsyncDisposable {
  private constructor(readonly dir: string) {}

  static async create(): Promise<CliSandbox> {
    return new CliSandbox(await mkdtemp(join(tmpdir(), "sf-cli-")));
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      STAGEFARM_STORE: join(this.dir, "store"),
      STAGEFARM_WORK_DIR: join(this.dir, "work"),
      NO_COLOR: "1",
    };
  }

  run(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolvePromise) => {
      execFile(
        process.execPath,
        [cliPath, ...args],
        { cwd: repoRoot, env: this.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolvePromise({ code, stdout, stderr });
        },
      );
    });
  }

  /** Starts the CLI as a long-lived process (`up`, `run`), its output collected. */
  spawn(args: string[]): CliProcess {
    return new CliProcess(
      spawn(process.execPath, [cliPath, ...args], {
        cwd: repoRoot,
        env: this.env,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

const STDERR_TAIL = 64 << 10;

/**
 * A running CLI process. Both pipes are always read (a child whose stderr pipe fills up blocks
 * in its next log write, and a test waiting on it would hang), stdout whole and the tail of
 * stderr kept for failure messages. Waits are bounded and fail with what the process printed.
 */
export class CliProcess {
  stdout = "";
  #stderr = "";
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-STDERR_TAIL);
    });
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  /** The last 64 KiB the process wrote to stderr (its log). */
  get stderr(): string {
    return this.#stderr;
  }

  /** What the process printed, for an assertion message. */
  describe(): string {
    return `stdout:\n${this.stdout.slice(-4000)}\nstderr (tail):\n${this.#stderr.slice(-4000)}`;
  }

  /** Waits until stdout (or stderr) matches `re`; fails after `timeoutMs` or when the process
   *  exits first, with what it printed. */
  async waitForOutput(
    re: RegExp,
    timeoutMs: number,
    stream: "stdout" | "stderr" = "stdout",
  ): Promise<RegExpExecArray> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    return poll(
      () => {
        const m = re.exec(stream === "stdout" ? this.stdout : this.#stderr);
        if (m !== null) return m;
        if (exited) throw new Error(`the process exited before printing ${String(re)}\n${this.describe()}`);
        return undefined;
      },
      { timeoutMs, what: `${String(re)} on ${stream}`, intervalMs: 50 },
    ).catch((err: unknown) => {
      // What it printed by then, not when the wait began.
      if (!(err instanceof StagefarmError) || err.code !== "timeout") throw err;
      throw new Error(`${err.message}\n${this.describe()}`, { cause: err });
    });
  }

  /** Sends `signal` and waits for the exit status; SIGKILLs and fails after `timeoutMs`. */
  async stop(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<number | null> {
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
    try {
      const code = await Promise.race([this.exited, late]);
      if (code === "late") {
        this.child.kill("SIGKILL");
        throw new Error(`the process did not exit within ${timeoutMs} ms of ${signal}\n${this.describe()}`);
      }
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** The JSON object on the last non-empty line of a command's stdout. */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  return JSON.parse(last) as Record<string, unknown>;
}

/** The test process's environment without any STAGEFARM_* setting, plus `extra`. */
export function cleanCliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Runs the CLI once with {@link cleanCliEnv}`(env)`; resolves with its exit code and output. */
export function runCleanCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: repoRoot, env: cleanCliEnv(env), timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
