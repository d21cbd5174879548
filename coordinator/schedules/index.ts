/** Schedules (cron) and run-end notifications (webhook, command): see docs/schedules.md. */
export { ScheduleService, type RunSource, type ScheduleServiceOptions } from "./schedule-service.js";
export { Scheduler, MAX_SLEEP_MS, type Launch, type LaunchRequest, type FireOutcome } from "./scheduler.js";
export { COMMAND_ENV_KEYS, Notifier, type NotifierOptions, type NotifyTargets } from "./notifier.js";
export { runSummary, type RunSummary } from "./run-summary.js";
export {
  loadScheduleFile,
  parseScheduleFile,
  type ScheduleEntry,
  type ScheduleFile,
  type OverlapPolicy,
} from "./schedule-file.js";
export { systemClock, type Clock, type Timer } from "./clock.js";
export { compileCron } from "./cron.js";
export { submitLauncher } from "./submit-launcher.js";
