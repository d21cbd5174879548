/**
 * Runs one archive tool (tar, zstd, xz, …) for the pack module: in its own process group (so
 * the compressor that `tar --use-compress-program` forks dies with it), with `LC_ALL=C`,
 * stdout streamed to the caller and the tail of stderr kept for error messages.
 *
 * Protocol
 * - `exited` always resolves (never rejects) once the tool has exited, with its status and the
 *   last {@link STDERR_TAIL_BYTES} of stderr; only a failure to start it at all rejects.
 * - Aborting `signal`, or calling `kill()`, sends SIGTERM to the whole group and SIGKILL after
 *   {@link KILL_GRACE_MS}; the exit then reports `killed: true`.
 * - After the main process has exited the group gets SIGKILL anyway: nothing it forked may
 *   outlive it.
 * - stdout is piped into a buffer of our own at once: execa resumes an unread stdout (buffer:
 *   false) after one event-loop turn, which would drop bytes a caller reads only a little later.
 *   Destroying the returned stream closes the tool's stdout (it then dies of SIGPIPE).
 */
import { PassThrough, pipeline, type Readable } from "node:stream";
import { execa } from "execa";
import { StagefarmError } from "../errors.js";
import { errnoOf } from "../util/fs.js";

export interface ToolExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** We killed it (abort or `kill()`), so its status says nothing about its input. */
  killed: boolean;
  stderr: string;
}

export interface RunningTool {
  readonly pid: number;
  /** The tool's stdout (empty stream when started with `stdout: "ignore"`). */
  readonly stdout: Readable;
  readonly exited: Promise<ToolExit>;
  kill(): void;
}

export interface ToolOptions {
  signal?: AbortSignal;
  stdout?: "pipe" | "ignore";
}

const STDERR_TAIL_BYTES = 16 * 1024;
const STDOUT_BUFFER_BYTES = 1 << 20;
const KILL_GRACE_MS = 2000;

/**
 * Sends `sig` to every process of group `pgid`. No such group (ESRCH), or one that is no
 * longer ours (EPERM: the id was reused by another user's process), means nothing of ours is
 * left to signal.
 */
function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (err: unknown) {
    const code = errnoOf(StagefarmError.from(err).cause);
    if (code !== "ESRCH" && code !== "EPERM") throw StagefarmError.from(err);
  }
}

/** Starts `file args`; rejects (`internal`) when the program cannot be started. */
export async function startTool(
  file: string,
  args: readonly string[],
  opts: ToolOptions = {},
): Promise<RunningTool> {
  if (opts.signal?.aborted) throw new StagefarmError("cancelled", `not started: ${file} (cancelled)`);
  const sub = execa(file, args, {
    detached: true,
    cleanup: true,
    stdin: "ignore",
    stdout: opts.stdout ?? "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    encoding: "buffer",
    env: { LC_ALL: "C" },
  });
  const stdout = new PassThrough({ highWaterMark: STDOUT_BUFFER_BYTES });
  // Errors on the tool's stdout reach the reader through `stdout`, which pipeline destroys with
  // them; a reader that stops early destroys `stdout`, and pipeline closes the tool's end too.
  if (sub.stdout) pipeline(sub.stdout, stdout, () => undefined);
  else stdout.end();

  const pid = sub.pid;
  if (pid === undefined) {
    const result = await sub;
    const why = result.cause instanceof Error ? result.cause.message : result.shortMessage;
    throw new StagefarmError("internal", `cannot run ${file}: ${why}`, { cause: result.cause });
  }

  let stderr = Buffer.alloc(0);
  sub.stderr.on("data", (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
  });

  let killed = false;
  let done = false;
  let forceTimer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    if (done || killed) return;
    killed = true;
    killGroup(pid, "SIGTERM");
    forceTimer = setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS);
    forceTimer.unref();
  };
  const onAbort = (): void => kill();
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  const exited = (async (): Promise<ToolExit> => {
    try {
      const result = await sub;
      return {
        exitCode: result.exitCode,
        signal: result.signal,
        killed,
        stderr: stderr.toString("utf8").trim(),
      };
    } finally {
      done = true;
      opts.signal?.removeEventListener("abort", onAbort);
      if (forceTimer !== undefined) clearTimeout(forceTimer);
      killGroup(pid, "SIGKILL");
    }
  })();
  return { pid, stdout, exited, kill };
}

/** "exited with status 2: tar: …" / "was killed by SIGSEGV" — for error messages. */
export function describeExit(file: string, exit: ToolExit): string {
  const how =
    exit.signal !== undefined ? `was killed by ${exit.signal}` : `exited with status ${exit.exitCode ?? "?"}`;
  return exit.stderr === "" ? `${file} ${how}` : `${file} ${how}: ${exit.stderr}`;
}

export function succeeded(exit: ToolExit): boolean {
  return !exit.killed && exit.signal === undefined && exit.exitCode === 0;
}
