/** Runs the built `stagefarm` CLI as a real process, with its own store and work dirs. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

  spawn(args: string[]): ChildProcess {
    return spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The JSON object on the last non-empty line of a command's stdout. */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  return JSON.parse(last) as Record<string, unknown>;
}
