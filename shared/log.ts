import { pino, type Logger } from "pino";
import { PinoPretty } from "pino-pretty";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: string;
  /** Destination fd (default 2: logs go to stderr, stdout stays for command output). */
  fd?: number;
  /**
   * Render records for people (a terminal) instead of one JSON object per line (services, log
   * collectors, tools): `{ colorize }` turns it on.
   */
  pretty?: { colorize: boolean };
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
  const fd = opts.fd ?? 2;
  return pino(
    {
      level: opts.level ?? "info",
      base: undefined,
      redact: { paths: [...REDACTED_LOG_PATHS], censor: "[redacted]" },
    },
    opts.pretty === undefined
      ? pino.destination({ fd, sync: true })
      : PinoPretty({
          destination: fd,
          sync: true,
          colorize: opts.pretty.colorize,
          translateTime: "HH:MM:ss",
          ignore: "pid,hostname",
          singleLine: true,
        }),
  );
}

/** A logger that discards everything (tests, quiet CLI paths). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
