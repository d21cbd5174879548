/** The shell runner. */
export { createShellRunner, type ShellRunnerOptions } from "./runner.js";
