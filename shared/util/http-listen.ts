/**
 * Listening and closing a node:http(s) server, once for every server of stagefarm (the
 * coordinator's HTTP server, the one-shot binhost server, the agent's metrics server) and the
 * tests' servers:
 *
 * - `listenHttp` binds, resolves with the bound address (the real port when asked for port 0)
 *   and rejects with a one-line `unavailable` error naming the address and the cause
 *   (./listen-error.ts). Either way it leaves no listener of its own on the server.
 * - `closeHttp` stops accepting, ends idle keep-alive connections at once, gives requests in
 *   flight `graceMs`, then cuts every connection left; it resolves once the server is closed.
 */
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { listenError } from "./listen-error.js";

/** Where a server listens. */
export interface BoundAddress {
  /** The bound address as the OS reports it (e.g. "127.0.0.1", "::1"). */
  host: string;
  port: number;
  /** `host:port`, an IPv6 host in brackets: what goes into a URL. */
  hostPort: string;
}

/** What an http or https server (both derive from node:http's Server) offers. */
export type ListeningServer = Pick<
  HttpServer,
  | "listen"
  | "once"
  | "off"
  | "address"
  | "close"
  | "closeAllConnections"
  | "closeIdleConnections"
  | "listening"
>;

/** Binds `server` to `host:port` (`port` 0: one the OS picks); `what` names it in the error. */
export function listenHttp(
  server: ListeningServer,
  host: string,
  port: number,
  what: string,
): Promise<BoundAddress> {
  return new Promise<BoundAddress>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off("listening", onListening);
      reject(listenError(what, `${host}:${port}`, err));
    };
    const onListening = (): void => {
      server.off("error", onError);
      const addr = server.address() as AddressInfo;
      const h = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      resolve({ host: addr.address, port: addr.port, hostPort: `${h}:${addr.port}` });
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/** How long requests in flight get by default before their connections are cut. */
export const DEFAULT_HTTP_CLOSE_GRACE_MS = 1000;

/**
 * Closes `server`: no new connections, idle keep-alive connections end now, requests in flight
 * get `graceMs` (then their connections are cut). Resolves once every connection is gone; a
 * server that is not listening resolves at once.
 */
export function closeHttp(server: ListeningServer, graceMs = DEFAULT_HTTP_CLOSE_GRACE_MS): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
