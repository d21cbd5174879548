/**
 * Turns how a stage's script process ended into the stage's result: nothing on exit status 0,
 * otherwise the one StagefarmError that says what happened (failed with status N, killed by a
 * signal, timed out, cancelled), with the last lines of its output in the details.
 */
import { StagefarmError } from "../../../shared/errors.js";
import { formatDuration } from "../../../shared/util/duration.js";
import type { ProcessOutcome } from "../../process-group.js";

/** "30m", "2h", "90s": a limit as a pipeline author would have written it. */
export function formatLimit(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return formatDuration(ms);
}

export function checkScriptOutcome(
  stage: string,
  outcome: ProcessOutcome,
  ctx: { timeoutMs: number; logTail: string },
): void {
  if (outcome.cancelled) throw new StagefarmError("cancelled", `stage "${stage}" was cancelled`);
  if (outcome.timedOut)
    throw new StagefarmError("timeout", `stage "${stage}" timed out after ${formatLimit(ctx.timeoutMs)}`, {
      details: { timeoutMs: ctx.timeoutMs, logTail: ctx.logTail },
    });
  if (outcome.exitCode === 0) return;
  const how =
    outcome.exitCode !== undefined
      ? `script exited with status ${outcome.exitCode}`
      : `script was killed by signal ${outcome.signal ?? "unknown"}`;
  throw new StagefarmError("stage_failed", `stage "${stage}" failed: ${how}`, {
    details: { exitCode: outcome.exitCode, signal: outcome.signal, logTail: ctx.logTail },
  });
}
