/** The fetch runner. */
export { createFetchRunner, type FetchRunnerOptions } from "./runner.js";
