/**
 * Connecting to NATS: credentials come from the URL (`nats://user:pass@host:port`, or
 * `nats://token@host:port`; several servers separated by commas) and are never logged; the
 * connection reconnects forever (every ~250 ms) and logs disconnects and reconnects.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { connect, Events, type NatsConnection } from "nats";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import { fromNats } from "./errors.js";

export interface NatsConnectOptions {
  /** Connection name shown by the server (`stagefarm-coordinator`, `stagefarm-agent-<id>`). */
  name: string;
  logger: Logger;
  /** Aborts waiting for the first connection. */
  signal?: AbortSignal;
  /** Give up waiting for the first connection after this long (default 30 s). */
  connectTimeoutMs?: number;
  /** Wait between reconnect attempts (default 250 ms). */
  reconnectTimeWaitMs?: number;
}

/** A parsed NATS URL: the servers, the credentials and a form safe to log. */
export interface NatsUrl {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** The URL without credentials. */
  redacted: string;
}

/** Parses `nats://[user:pass@|token@]host:port[,…]`; throws `invalid_argument` on anything else. */
export function parseNatsUrl(url: string): NatsUrl {
  const servers: string[] = [];
  const out: NatsUrl = { servers, redacted: "" };
  for (const part of url.split(",")) {
    const text = part.trim().includes("://") ? part.trim() : `nats://${part.trim()}`;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch (err: unknown) {
      throw new StagefarmError("invalid_argument", `invalid NATS URL "${redact(text)}"`, {
        cause: StagefarmError.from(err),
      });
    }
    if (!["nats:", "tls:"].includes(parsed.protocol) || parsed.hostname === "")
      throw new StagefarmError(
        "invalid_argument",
        `invalid NATS URL "${redact(text)}": expected nats://[user:pass@]host:port`,
      );
    if (parsed.username !== "" && parsed.password !== "") {
      out.user = decodeURIComponent(parsed.username);
      out.pass = decodeURIComponent(parsed.password);
    } else if (parsed.username !== "") out.token = decodeURIComponent(parsed.username);
    servers.push(`${parsed.protocol}//${parsed.host}`);
  }
  out.redacted = servers.join(",");
  return out;
}

/** `url` with any credentials removed (for logs and error messages). */
export function redactNatsUrl(url: string): string {
  try {
    return parseNatsUrl(url).redacted;
  } catch {
    return redact(url);
  }
}

function redact(text: string): string {
  return text.replace(/\/\/[^@/]*@/g, "//");
}

/**
 * Connects to NATS, retrying a refused or timed-out first connection (with backoff up to 2 s)
 * until `connectTimeoutMs` or the signal; then reconnects forever on its own. Wrong
 * credentials fail at once (`invalid_argument`).
 */
export async function connectNats(url: string, opts: NatsConnectOptions): Promise<NatsConnection> {
  const target = parseNatsUrl(url);
  const log = opts.logger.child({ component: "nats", connection: opts.name });
  const timeoutMs = opts.connectTimeoutMs ?? 30_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const what = `connecting to NATS at ${target.redacted}`;
  let backoffMs = 250;
  for (let attempt = 1; ; attempt++) {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: target.servers,
        user: target.user,
        pass: target.pass,
        token: target.token,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
        timeout: Math.min(5_000, timeoutMs),
      });
    } catch (err: unknown) {
      const error = fromNats(err, what);
      if (error.code !== "unavailable") throw error;
      if (opts.signal?.aborted) throw new StagefarmError("cancelled", `${what}: cancelled`, { cause: error });
      if (deadline.aborted)
        throw new StagefarmError("unavailable", `${what}: no server answered within ${timeoutMs} ms`, {
          cause: error,
        });
      log[attempt === 1 ? "warn" : "debug"](
        { attempt, err: error.message },
        "NATS not reachable yet, retrying",
      );
      await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
      backoffMs = Math.min(backoffMs * 2, 2_000);
      continue;
    }
    if (opts.signal?.aborted) {
      await nc.close();
      throw new StagefarmError("cancelled", `${what}: cancelled`);
    }
    log.info({ server: target.redacted }, "connected to NATS");
    logStatus(nc, log);
    return nc;
  }
}

/** Logs the connection's status changes until it closes. */
function logStatus(nc: NatsConnection, log: Logger): void {
  const watch = async (): Promise<void> => {
    for await (const status of nc.status()) {
      const data = typeof status.data === "object" ? JSON.stringify(status.data) : String(status.data);
      switch (status.type) {
        case Events.Disconnect:
          log.warn({ server: data }, "disconnected from NATS");
          break;
        case Events.Reconnect:
          log.info({ server: data }, "reconnected to NATS");
          break;
        case Events.Error:
          log.error({ err: data }, "NATS connection error");
          break;
        case Events.LDM:
          log.warn({ server: data }, "NATS server entering lame duck mode");
          break;
        default:
          log.debug({ type: status.type, data }, "NATS status");
      }
    }
  };
  watch().catch((err: unknown) =>
    log.error({ err: StagefarmError.from(err).message }, "NATS status watch failed"),
  );
  nc.closed()
    .then((err) => {
      if (err) log.warn({ err: err.message }, "NATS connection closed after an error");
      else log.debug("NATS connection closed");
    })
    .catch(() => undefined);
}
