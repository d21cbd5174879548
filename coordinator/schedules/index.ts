/** Schedules (cron) and run-end notifications (webhook, command): see docs/schedules.md. */
export { ScheduleService } from "./schedule-service.js";
export { submitLauncher } from "./submit-launcher.js";
