/**
 * Runs one command in its own process group and makes sure nothing it started outlives it.
 *
 * Protocol
 * - The command is spawned detached (a new process group whose id is its pid); stdin is
 *   /dev/null; stdout and stderr are streamed to `onOutput` in the order they arrive.
 * - On abort or timeout the whole group gets SIGTERM, then SIGKILL after `killGraceMs`.
 * - When the main process has exited (for any reason) the group gets SIGKILL anyway, so
 *   background children a script left behind (`sleep 1000 &`) never survive it.
 * - The group is recorded in the executor's process ledger (./process-ledger.ts), so an agent
 *   started after this one was SIGKILLed finds and kills what is left of it.
 * - The outcome is returned, never thrown: the caller decides what a status means. Only a
 *   failure to start the command at all throws.
 */
import { StagefarmError } from "../shared/errors.js";
import { recordProcessGroup } from "./process-ledger.js";
import { errnoOf } from "../shared/util/fs.js";

export interface ProcessGroupOptions {
  cwd: string;
  /** The complete environment of the command (nothing is inherited). */
  env: Record<string, string>;
  signal: AbortSignal;
  /** Kill the group after this long; absent, 0 or Infinity: no deadline. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL on abort/timeout (default 5 s). */
  killGraceMs?: number;
  /** Output of stdout and stderr, interleaved as produced. */
  onOutput: (chunk: Uint8Array) => void;
}

export interface ProcessOutcome {
  /** Exit status when the process exited normally. */
  exitCode: number | undefined;
  /** Terminating signal when it was killed. */
  signal: NodeJS.Signals | undefined;
  timedOut: boolean;
  cancelled: boolean;
}

const DEFAULT_KILL_GRACE_MS = 5000;
/** setTimeout's largest delay; longer deadlines are clamped (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long output pipes may stay open after the group is killed (held by an escaped process). */
const PIPE_DRAIN_MS = 2000;

/** Sends `sig` to every process of group `pgid`; an empty group (ESRCH) is not an error. */
export function killProcessGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (errnoOf(e.cause) === "ESRCH") return;
    throw e;
  }
}

export async function runInProcessGroup(
  file: string,
  args: readonly string[],
  opts: ProcessGroupOptions,
): Promise<ProcessOutcome> {
  if (opts.signal.aborted) throw new StagefarmError("cancelled", `not started: ${file} (cancelled)`);
  // Loaded on first use: a fully cached run never starts a process and should not pay for execa.
  const { execa } = await import("execa");
  if (opts.signal.aborted) throw new StagefarmError("cancelled", `not started: ${file} (cancelled)`);
  const sub = execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    detached: true,
    cleanup: false,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    encoding: "buffer",
  });
  // A failure of ours (a throwing output callback, a failed kill) is kept and thrown at the
  // end: thrown from an event handler it would crash the process and leak the group.
  let ownError: StagefarmError | undefined;
  const onData = (chunk: Uint8Array): void => {
    try {
      opts.onOutput(chunk);
    } catch (err: unknown) {
      ownError ??= StagefarmError.from(err);
    }
  };
  sub.stdout.on("data", onData);
  sub.stderr.on("data", onData);

  const pid = sub.pid;
  let timedOut = false;
  let cancelled = false;
  const timers: NodeJS.Timeout[] = [];
  const kill = (sig: NodeJS.Signals): void => {
    if (pid === undefined) return;
    try {
      killProcessGroup(pid, sig);
    } catch (err: unknown) {
      ownError ??= StagefarmError.from(err);
    }
  };
  const terminate = (): void => {
    kill("SIGTERM");
    timers.push(setTimeout(() => kill("SIGKILL"), opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS));
  };
  const onAbort = (): void => {
    cancelled = true;
    terminate();
  };

  const exited = new Promise<void>((resolve) => sub.once("exit", () => resolve()));
  const clearTimers = (): void => {
    for (const t of timers.splice(0)) clearTimeout(t);
  };
  try {
    if (pid !== undefined) {
      await recordProcessGroup(pid).catch((err: unknown) => {
        ownError ??= StagefarmError.from(err);
      });
      opts.signal.addEventListener("abort", onAbort, { once: true });
      // Aborted while the group was being recorded: the listener would never fire.
      if (opts.signal.aborted) onAbort();
      const timeoutMs = opts.timeoutMs ?? 0;
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        const onTimeout = (): void => {
          timedOut = !cancelled;
          if (timedOut) terminate();
        };
        timers.push(setTimeout(onTimeout, Math.min(timeoutMs, MAX_TIMER_MS)));
      }
      await Promise.race([exited, sub]);
      opts.signal.removeEventListener("abort", onAbort);
      clearTimers();
      // The main process is gone: nothing of its group may survive it.
      kill("SIGKILL");
    }
    // Output still in the pipes is read; a pipe held open by a process that left the group
    // (setsid) must not keep us waiting forever.
    timers.push(
      setTimeout(() => {
        sub.stdout.destroy();
        sub.stderr.destroy();
      }, PIPE_DRAIN_MS),
    );
    const result = await sub;
    if (pid === undefined || (result.exitCode === undefined && result.signal === undefined)) {
      const why = result.cause instanceof Error ? result.cause.message : result.shortMessage;
      throw new StagefarmError("internal", `could not start ${file} (in ${opts.cwd}): ${why}`, {
        cause: result.cause,
      });
    }
    if (ownError) throw ownError;
    return { exitCode: result.exitCode, signal: result.signal, timedOut, cancelled };
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    clearTimers();
    sub.stdout.off("data", onData);
    sub.stderr.off("data", onData);
  }
}
