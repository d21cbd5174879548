/**
 * Binding a GrpcServer to an address, in plain text (grpc-js's own binding) or with TLS
 * (./tls.ts), and shutting it down in order: open streams end with `unavailable` at once, unary
 * calls get `graceMs` to finish, then those still running are answered `unavailable`, and
 * connections still open a second later are cut.
 */
import { ServerCredentials } from "@grpc/grpc-js";
import { StagefarmError } from "../errors.js";
import type { GrpcServer } from "./server.js";
import { listenTls, type ServerTls, type TlsFront } from "./tls.js";

export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export interface GrpcListener extends AsyncDisposable {
  /** The bound port (the real one when asked for port 0). */
  readonly port: number;
  /** `host:port` with the bound port. */
  readonly address: string;
  /**
   * Stops accepting calls, ends open streams with `unavailable`, waits up to `graceMs` for unary
   * calls in flight, then answers what is left `unavailable` (their handlers' signals abort).
   * Idempotent: later calls return the same promise.
   */
  close(graceMs?: number): Promise<void>;
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(":");
  return i < 0 ? address : address.slice(0, i);
}

function bind(server: GrpcServer, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.raw.bindAsync(address, credentials, (err, port) => {
      if (err === null) resolve(port);
      else
        reject(
          new StagefarmError("unavailable", `cannot listen on ${address}: ${err.message}`, { cause: err }),
        );
    });
  });
}

/** How long calls answered at the end of the grace get to flush before connections are cut. */
const FORCE_AFTER_MS = 1000;

function shutdown(server: GrpcServer, graceMs: number, front: TlsFront | undefined): Promise<void> {
  front?.stopAccepting();
  server.endStreams();
  return new Promise<void>((resolve) => {
    let force: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      server.endAll();
      force = setTimeout(() => {
        server.raw.forceShutdown();
        front?.destroyAll();
        resolve();
      }, FORCE_AFTER_MS);
    }, graceMs);
    server.raw.tryShutdown((err) => {
      clearTimeout(grace);
      if (force !== undefined) clearTimeout(force);
      // tryShutdown fails only when the server is not serving; make sure nothing is left anyway.
      if (err !== undefined) server.raw.forceShutdown();
      // Connections still in their TLS handshake never reached grpc-js.
      front?.destroyAll();
      resolve();
    });
  });
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new StagefarmError("invalid_argument", `expected HOST:PORT, got "${address}"`);
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * Binds `server` to `address` (e.g. "127.0.0.1:0") and starts serving: with grpc-js
 * credentials (`ServerCredentials.createInsecure()`), or with TLS from PEM bytes.
 */
export async function listen(
  server: GrpcServer,
  address: string,
  security: ServerCredentials | ServerTls,
): Promise<GrpcListener> {
  let port: number;
  let front: TlsFront | undefined;
  if (security instanceof ServerCredentials) port = await bind(server, address, security);
  else {
    const { host, port: wanted } = splitHostPort(address);
    front = await listenTls(server, host, wanted, security, server.log);
    port = front.port;
  }
  let closed: Promise<void> | undefined;
  const close = (graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> => {
    closed ??= shutdown(server, graceMs, front);
    return closed;
  };
  return {
    port,
    address: `${hostOf(address)}:${port}`,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
