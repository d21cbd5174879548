/**
 * Connecting to NATS: credentials come from the URL (`nats://user:pass@host:port`, or
 * `nats://token@host:port`; several servers separated by commas) or from a credentials file
 * (./credentials.ts: an nkey seed or user and password), and are never logged; TLS when CA or
 * client certificate files are given (or a `tls://` URL). The connection reconnects forever
 * (every ~250 ms) and logs disconnects and reconnects. Refused credentials and TLS failures
 * (an untrusted server certificate) fail at once with a message naming the cause.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { connect, Events, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from "nats";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import { describeNatsAuth, type NatsAuth, type NatsTlsFiles } from "./credentials.js";
import { fromNats } from "./errors.js";
import { errnoOf } from "../util/fs.js";

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
  /** Credentials (./credentials.ts); the URL must then carry none. */
  auth?: NatsAuth;
  /** TLS: the CA to trust and a client certificate (mutual TLS). */
  tls?: NatsTlsFiles;
  /** Prefix of this connection's reply subjects (`Subjects.inbox`), so permissions can keep them private. */
  inboxPrefix?: string;
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
  const options = connectionOptions(target, opts);
  if (opts.auth !== undefined && options.tls === undefined && !target.servers.every(isLoopback))
    log.warn(
      { server: target.redacted },
      "NATS credentials without --nats-ca: unless the server requires TLS, messages (and a password) travel in clear",
    );
  const timeoutMs = opts.connectTimeoutMs ?? 30_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const what = `connecting to NATS at ${target.redacted}`;
  let backoffMs = 250;
  for (let attempt = 1; ; attempt++) {
    let nc: NatsConnection;
    try {
      nc = await connect({ ...options, timeout: Math.min(5_000, timeoutMs) });
    } catch (err: unknown) {
      const error = connectError(err, what, opts.auth ?? target);
      if (error.code !== "unavailable") throw error;
      if (opts.signal?.aborted) throw new StagefarmError("cancelled", `${what}: cancelled`, { cause: error });
      if (deadline.aborted)
        throw new StagefarmError(
          "unavailable",
          `${what}: no server answered within ${timeoutMs} ms${
            options.tls !== undefined && opts.tls?.certFile === undefined
              ? " (a server that requires client certificates also looks like this: give --nats-cert and --nats-key)"
              : ""
          }`,
          { cause: error },
        );
      log[attempt === 1 ? "warn" : "debug"]({ attempt, err: error }, "NATS not reachable yet, retrying");
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

function connectionOptions(target: NatsUrl, opts: NatsConnectOptions): ConnectionOptions {
  if (opts.auth !== undefined && (target.user !== undefined || target.token !== undefined))
    throw new StagefarmError(
      "invalid_argument",
      `NATS credentials given twice: in the URL ${target.redacted} and in a credentials file; keep one`,
    );
  const tlsFiles = opts.tls ?? {};
  const useTls =
    Object.values(tlsFiles).some((v) => v !== undefined) || target.servers.some((s) => s.startsWith("tls:"));
  const auth = opts.auth;
  return {
    servers: target.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    ...(auth === undefined
      ? { user: target.user, pass: target.pass, token: target.token }
      : auth.kind === "user"
        ? { user: auth.user, pass: auth.pass }
        : { authenticator: nkeyAuthenticator(auth.seed) }),
    ...(useTls
      ? {
          tls: {
            ...(tlsFiles.caFile === undefined ? {} : { caFile: tlsFiles.caFile }),
            ...(tlsFiles.certFile === undefined ? {} : { certFile: tlsFiles.certFile }),
            ...(tlsFiles.keyFile === undefined ? {} : { keyFile: tlsFiles.keyFile }),
          },
        }
      : {}),
    ...(opts.inboxPrefix === undefined ? {} : { inboxPrefix: opts.inboxPrefix }),
  };
}

function isLoopback(server: string): boolean {
  const host = new URL(server).hostname;
  return host === "localhost" || host === "[::1]" || host.startsWith("127.");
}

/** A failed first connection: refused credentials and TLS failures are final, with their cause. */
function connectError(err: unknown, what: string, who: NatsAuth | NatsUrl): StagefarmError {
  const error = fromNats(err, what);
  const natsCode = error.details["natsCode"];
  if (natsCode === "AUTHORIZATION_VIOLATION" || natsCode === "BAD_AUTHENTICATION") {
    const as =
      "kind" in who
        ? describeNatsAuth(who)
        : who.user !== undefined
          ? `user ${who.user}`
          : who.token !== undefined
            ? "a token"
            : "no credentials";
    return new StagefarmError(
      "invalid_argument",
      `${what}: the server refused the credentials (${as}): check --nats-creds (or STAGEFARM_NATS_CREDS) and that the server's configuration lists this user`,
      { cause: err, details: { natsCode } },
    );
  }
  const tls = tlsFailure(err);
  if (tls !== undefined)
    return new StagefarmError(
      "invalid_argument",
      `${what}: TLS failed (${tls}): check --nats-ca (the CA that signed the server's certificate) and the server name in the URL`,
      { cause: err },
    );
  return error;
}

/** The TLS failure behind `err` (node's certificate and TLS error codes), if it is one. */
function tlsFailure(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = errnoOf(e);
    if (typeof code === "string" && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|^ERR_(TLS|SSL)_/.test(code))
      return `${code}: ${e.message}`;
  }
  return undefined;
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
  watch().catch((err: unknown) => log.error({ err: StagefarmError.from(err) }, "NATS status watch failed"));
  nc.closed()
    .then((err) => {
      if (err)
        log.warn({ err: fromNats(err, "the NATS connection") }, "NATS connection closed after an error");
      else log.debug("NATS connection closed");
    })
    .catch(() => undefined);
}
