import { pino, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: string;
  /** Destination fd (default 2: logs go to stderr, stdout stays for command output). */
  fd?: number;
}

/**
 * Keys whose values never reach a log, at the top of a log object or one level down (a request's
 * headers too): credentials that a careless `log.info({ cfg })` or `{ headers }` would print.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  "authorization",
  "cookie",
  "password",
  "pass",
  "secret",
  "secretKey",
  "seed",
  "s3Url",
].flatMap((k) => [k, `*.${k}`, `*.headers.${k}`]);

/** The one logger factory. Components take a child: `log.child({ component: "engine" })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: undefined,
      redact: { paths: [...REDACTED_LOG_PATHS], censor: "[redacted]" },
    },
    pino.destination({ fd: opts.fd ?? 2, sync: true }),
  );
}

/** A logger that discards everything (tests, quiet CLI paths). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
