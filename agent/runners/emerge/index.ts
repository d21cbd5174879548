/** The emerge runner. */
export { createEmergeRunner, type EmergeRunnerOptions } from "./runner.js";
