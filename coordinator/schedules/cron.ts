/**
 * Cron expressions, by croner: 5 fields (minute hour day-of-month month day-of-week) as in
 * crontab, or 6 with seconds first; `@weekly` and the like; Vixie cron's OR of day-of-month and
 * day-of-week when both are given. Times are computed in the schedule's IANA time zone.
 */
import { Cron } from "croner";
import { StagefarmError } from "../../shared/errors.js";

export interface CronSchedule {
  /** The first firing strictly after `afterMs` (epoch ms), or undefined when there is none. */
  next(afterMs: number): number | undefined;
}

export function compileCron(expr: string, timezone: string): CronSchedule {
  const fields = expr.trim().split(/\s+/).length;
  if (!expr.trim().startsWith("@") && (fields < 5 || fields > 6))
    throw new StagefarmError(
      "invalid_argument",
      `cron "${expr}" has ${fields} fields; give 5 (or 6 with seconds)`,
    );
  let cron: Cron;
  try {
    cron = new Cron(expr, { timezone, paused: true, legacyMode: true });
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `cron "${expr}": ${StagefarmError.from(err).message}`, {
      cause: err,
    });
  }
  return {
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime() ?? undefined;
    },
  };
}

/** Why `expr` is not a usable cron expression, or undefined. */
export function cronProblem(expr: string, timezone: string): string | undefined {
  try {
    const c = compileCron(expr, timezone);
    if (c.next(Date.now()) === undefined) return `cron "${expr}" never fires`;
    return undefined;
  } catch (err: unknown) {
    return StagefarmError.from(err).message;
  }
}
