/** The catalyst runner. */
export { createCatalystRunner, type CatalystRunnerOptions } from "./runner.js";
