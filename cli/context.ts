/** What every command gets from the entry point: streams, configuration, a logger factory. */
import type { Logger } from "../shared/log.js";
import type { LocalConfig } from "./config.js";

export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The process environment, read only for the switches commander cannot take (cli/options.ts). */
  env: NodeJS.ProcessEnv;
  /** The embedded farm's configuration (flags + environment, parsed once). */
  config(): LocalConfig;
  logger(level: string): Logger;
  /** Whether to colour output written to this stream. */
  color(stream: NodeJS.WritableStream): boolean;
  setExitCode(code: number): void;
}
