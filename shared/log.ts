import { pino, type Logger } from "pino";
import { PinoPretty } from "pino-pretty";
import { StagefarmError, type ErrorCode } from "./errors.js";

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

/**
 * pino's serializer for the `err` key, so a log call keeps the error as an object:
 * `log.warn({ err, run }, "…")`. Expected trouble (a StagefarmError with a code other than
 * `internal`: an unavailable store, a failed script, a refused request) keeps its type, code,
 * message, details and cause chain but no stack; a bug (`internal`, or anything that is not a
 * StagefarmError) is pino's `errWithCause`, stack included. Anything not error-like passes as is.
 */
export function serializeErr(err: unknown): unknown {
  if (err instanceof StagefarmError && err.code !== "internal") return withoutStack(err, 0);
  return pino.stdSerializers.errWithCause(err as Error);
}

function withoutStack(e: Error, depth: number): Record<string, unknown> {
  const code = e instanceof StagefarmError ? e.code : (e as NodeJS.ErrnoException).code;
  const details = e instanceof StagefarmError && Object.keys(e.details).length > 0 ? e.details : undefined;
  const cause: unknown = e.cause;
  return {
    type: e.name,
    message: e.message,
    ...(code === undefined ? {} : { code }),
    ...(details === undefined ? {} : { details }),
    ...(cause instanceof Error && depth < 8
      ? { cause: withoutStack(cause, depth + 1) }
      : typeof cause === "string"
        ? { cause }
        : {}),
  };
}

/** The one logger factory. Components take a child: `log.child({ component: "engine" })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const fd = opts.fd ?? 2;
  return pino(
    {
      level: opts.level ?? "info",
      base: undefined,
      serializers: { err: serializeErr },
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

/**
 * The log fields of a failure, for `log.warn({ ...errorFields(err), run }, "…")`. Expected
 * trouble (a StagefarmError with a code other than `internal`: an unavailable store, a failed
 * script, a refused request) is one line: its code, its message and the message of its first
 * cause that says something more, no stack. A bug (`internal`, or anything that is not a
 * StagefarmError) keeps the error itself, which pino prints with its stack.
 */
export function errorFields(err: unknown): { code: ErrorCode; err: unknown; cause?: string } {
  const e = StagefarmError.from(err);
  if (e.code === "internal") return { code: e.code, err: err instanceof Error ? err : e };
  const cause = causeMessage(e);
  return { code: e.code, err: e.message, ...(cause === undefined ? {} : { cause }) };
}

/** The first message in `e`'s cause chain that the message of `e` does not already contain. */
function causeMessage(e: Error): string | undefined {
  let c: unknown = e.cause;
  for (let depth = 0; c !== undefined && c !== null && depth < 8; depth++) {
    const text = c instanceof Error ? c.message : typeof c === "string" ? c : undefined;
    if (text !== undefined && text !== "" && !e.message.includes(text)) return text;
    c = c instanceof Error ? c.cause : undefined;
  }
  return undefined;
}
