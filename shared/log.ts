import { pino, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: string;
  /** Destination fd (default 2: logs go to stderr, stdout stays for command output). */
  fd?: number;
}

/** The one logger factory. Components take a child: `log.child({ component: "engine" })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    { level: opts.level ?? "info", base: undefined },
    pino.destination({ fd: opts.fd ?? 2, sync: true }),
  );
}

/** A logger that discards everything (tests, quiet CLI paths). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
