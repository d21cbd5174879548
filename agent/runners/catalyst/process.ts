/**
 * Starting Catalyst: `catalyst --version` for the version check, and the build itself
 * (`catalyst -c <catalyst.conf> -f <spec>`), each in its own process group
 * (../process-group.ts) with only the stage's environment. A build that does not exit 0 is one
 * StagefarmError naming the stage, the exit status (or signal) and the last lines of its output.
 */
import { StagefarmError } from "../../../shared/errors.js";
import { runInProcessGroup } from "../../process-group.js";
import { LogTail, formatLimit } from "../common/index.js";

export interface CatalystCommand {
  /** The executable and the arguments before Catalyst's own (e.g. [node, double.js]). */
  command: readonly string[];
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  killGraceMs?: number;
}

function split(command: readonly string[]): { file: string; pre: string[] } {
  const [file, ...pre] = command;
  if (file === undefined || file === "")
    throw new StagefarmError("internal", "the catalyst runner was given an empty catalystCommand");
  return { file, pre };
}

/** `Catalyst 4.1.0` → `4.1.0`: the version word of `catalyst --version`'s first line. */
export function parseCatalystVersion(output: string): string | undefined {
  const first = output.split("\n").find((l) => l.trim() !== "") ?? "";
  return /^\s*Catalyst\s+(\S+)/i.exec(first)?.[1];
}

const VERSION_TIMEOUT_MS = 60_000;

/** Runs `catalyst --version` and checks it reports `expected`. Returns the reported version. */
export async function checkCatalystVersion(
  stage: string,
  expected: string,
  cmd: CatalystCommand,
): Promise<string> {
  const { file, pre } = split(cmd.command);
  const tail = new LogTail(4096);
  const outcome = await runInProcessGroup(file, [...pre, "--version"], {
    cwd: cmd.cwd,
    env: cmd.env,
    signal: cmd.signal,
    timeoutMs: VERSION_TIMEOUT_MS,
    killGraceMs: cmd.killGraceMs,
    onOutput: (chunk) => tail.push(chunk),
  });
  if (outcome.cancelled) throw new StagefarmError("cancelled", `stage "${stage}" was cancelled`);
  const output = tail.lines(10);
  const reported = outcome.exitCode === 0 ? parseCatalystVersion(output) : undefined;
  if (reported === undefined)
    throw new StagefarmError(
      "invalid_argument",
      `stage "${stage}" requires catalyst ${expected}, but \`${[...cmd.command, "--version"].join(" ")}\` ${
        outcome.exitCode === 0 ? "printed no version" : "failed"
      }: ${output.trim() || "(no output)"}`,
    );
  if (reported !== expected)
    throw new StagefarmError(
      "invalid_argument",
      `stage "${stage}" requires catalyst ${expected}, but this agent has catalyst ${reported}`,
      { details: { expected, reported } },
    );
  return reported;
}

/** Runs the build; resolves when Catalyst exited 0. */
export async function runCatalystBuild(
  stage: string,
  cmd: CatalystCommand & {
    confPath: string;
    specPath: string;
    timeoutMs: number;
    onOutput: (chunk: Uint8Array) => void;
  },
): Promise<void> {
  const { file, pre } = split(cmd.command);
  const tail = new LogTail();
  const outcome = await runInProcessGroup(file, [...pre, "-v", "-c", cmd.confPath, "-f", cmd.specPath], {
    cwd: cmd.cwd,
    env: cmd.env,
    signal: cmd.signal,
    timeoutMs: cmd.timeoutMs,
    killGraceMs: cmd.killGraceMs,
    onOutput: (chunk) => {
      cmd.onOutput(chunk);
      tail.push(chunk);
    },
  });
  if (outcome.cancelled) throw new StagefarmError("cancelled", `stage "${stage}" was cancelled`);
  const logTail = tail.lines(30);
  if (outcome.timedOut)
    throw new StagefarmError(
      "timeout",
      `stage "${stage}" timed out after ${formatLimit(cmd.timeoutMs)} (catalyst)`,
      {
        details: { timeoutMs: cmd.timeoutMs, logTail },
      },
    );
  if (outcome.exitCode === 0) return;
  const how =
    outcome.exitCode !== undefined
      ? `catalyst exited with status ${outcome.exitCode}`
      : `catalyst was killed by signal ${outcome.signal ?? "unknown"}`;
  const last = tail.lines(8);
  throw new StagefarmError(
    "stage_failed",
    `stage "${stage}" failed: ${how}${last.trim() === "" ? " (no output)" : `; its last lines:\n${last}`}`,
    { details: { exitCode: outcome.exitCode, signal: outcome.signal, logTail } },
  );
}
