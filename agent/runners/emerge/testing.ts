/** Test-only surface of agent/runners/emerge/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { emergeJobDefaults, type EmergePlanOptions, planEmerge } from "./plan.js";
export { commandLine, invocationScript, shQuote, writesScript } from "./script.js";
