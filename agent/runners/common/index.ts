/** What every runner builds on: the runner port, the script environment, outcomes and log tails. */
export type { LogSink, Runner, RunnerContext, RunnerResult } from "./runner.js";
export {
  BASE_PATH,
  chrootScriptEnv,
  clampMtimeFor,
  DEFAULT_SOURCE_DATE_EPOCH,
  scriptEnv,
  type ScriptEnvOptions,
} from "./script-env.js";
export { checkScriptOutcome, formatLimit } from "./script-outcome.js";
export { LogTail } from "./log-tail.js";
