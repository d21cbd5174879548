/**
 * Test-only surface of coordinator/schedules/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { Scheduler, MAX_SLEEP_MS, type LaunchRequest, type FireOutcome } from "./scheduler.js";
export { COMMAND_ENV_KEYS, Notifier } from "./notifier.js";
export { runSummary, type RunSummary } from "./run-summary.js";
export { parseScheduleFile, type ScheduleEntry } from "./schedule-file.js";
export { type Clock, type Timer } from "./clock.js";
export { compileCron } from "./cron.js";
