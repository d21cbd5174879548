/**
 * TLS for the gRPC API, with optional mutual TLS.
 *
 * Server: node's own TLS server accepts connections (TLS 1.2+, ALPN h2) and hands each
 * established one to grpc-js through its public connection injector. Owning the handshake lets
 * the server log every refused one with the reason and what to fix (a client that does not
 * trust the server's CA, no or an expired client certificate, a plain-text client); grpc-js's
 * own TLS binding only traces them. With `clientCa`, a client certificate signed by it is
 * required.
 *
 * Client: grpc-js SSL channel credentials from PEM bytes (system roots without a CA).
 */
import { Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import { credentials, ServerCredentials, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import type { GrpcServer } from "./server.js";

export interface ServerTls {
  /** PEM certificate chain of the server. */
  cert: Buffer;
  /** PEM private key of the server. */
  key: Buffer;
  /** PEM CA: clients must present a certificate it signed (mutual TLS). */
  clientCa?: Buffer;
}

export interface ClientTls {
  /** PEM CA to trust (default: the system roots). */
  ca?: Buffer;
  /** PEM client certificate and key, for a server that requires them (both or neither). */
  cert?: Buffer;
  key?: Buffer;
  /** The name to check the server's certificate against, when not the host dialled. */
  serverName?: string;
}

/** Channel credentials for a client: plain text without `tls`, else TLS. */
export function clientSecurity(tls: ClientTls | undefined): {
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
} {
  if (tls === undefined) return { credentials: credentials.createInsecure(), channelOptions: {} };
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new StagefarmError(
      "invalid_argument",
      "a client certificate needs its key: give both --cert and --key",
    );
  return {
    credentials: credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
    channelOptions: tls.serverName === undefined ? {} : { "grpc.ssl_target_name_override": tls.serverName },
  };
}

/** A TLS listener in front of a GrpcServer. */
export interface TlsFront {
  readonly port: number;
  /** Stops accepting connections. */
  stopAccepting(): void;
  /** Destroys every connection still open (the end of a shutdown). */
  destroyAll(): void;
}

/** Node's verification result for a client certificate, e.g. `CERT_HAS_EXPIRED`. */
function verifyErrorOf(socket: TLSSocket): string | undefined {
  const v: unknown = socket.authorizationError;
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  return v instanceof Error ? ((v as Error & { code?: string }).code ?? v.message) : "unknown";
}

/** Why a handshake failed, in words an operator can act on; undefined for a client that just left. */
function handshakeProblem(err: Error & { code?: string }, socket: TLSSocket): string | undefined {
  const m = err.message;
  // Node checks the client's certificate after the handshake and hangs up: the reason is here.
  const verify = verifyErrorOf(socket);
  if (verify === "CERT_HAS_EXPIRED")
    return "the client's certificate has expired (CERT_HAS_EXPIRED); issue it a new one";
  if (verify === "CERT_NOT_YET_VALID")
    return "the client's certificate is not valid yet (CERT_NOT_YET_VALID); check the clocks";
  if (verify !== undefined)
    return `the client's certificate was refused (${verify}); it must be signed by the client CA`;
  // By Node's code for the OpenSSL reason (`ERR_SSL_` + the reason, e.g. ERR_SSL_HTTP_REQUEST),
  // not by the English; the message is kept for the operator.
  const code = err.code ?? "";
  if (code === "ECONNRESET") return undefined; // "socket hang up", "socket disconnected"
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)$/.test(code))
    return `the client does not trust this server's certificate; give it the farm CA (--ca): ${m}`;
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED$/.test(code))
    return `the client sent no certificate; mutual TLS needs --cert and --key signed by the client CA: ${m}`;
  if (/^ERR_SSL_.*EXPIRED/.test(code)) return `the client's certificate has expired; issue a new one: ${m}`;
  if (/^ERR_SSL_.*(CERTIFICATE|VERIFY)/.test(code)) return `the client's certificate was refused: ${m}`;
  if (/^ERR_SSL_(WRONG_VERSION_NUMBER|HTTP_REQUEST|UNKNOWN_PROTOCOL|NO_APPLICATION_PROTOCOL)$/.test(code))
    return `not a TLS (HTTP/2) client; a plain-text client needs --ca to use TLS: ${m}`;
  return m;
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
}

/** Listens on host:port with TLS and serves `server`'s calls on every established connection. */
export async function listenTls(
  server: GrpcServer,
  host: string,
  port: number,
  tls: ServerTls,
  log: Logger,
): Promise<TlsFront> {
  const injector = server.raw.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  let tlsServer: TlsServer;
  try {
    tlsServer = createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        minVersion: "TLSv1.2",
        ALPNProtocols: ["h2"],
        ...(tls.clientCa === undefined
          ? {}
          : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
      },
      (socket) => injector.injectConnection(socket),
    );
  } catch (err: unknown) {
    // A key that does not match the certificate, or PEM that is not PEM.
    injector.destroy();
    throw new StagefarmError(
      "invalid_argument",
      `the TLS certificate and key cannot be used: ${StagefarmError.from(err).message}`,
      { cause: err },
    );
  }
  // The peer's address, kept from the start: a socket that failed its handshake has lost it.
  const peers = new WeakMap<Socket, string>();
  tlsServer.on("connection", (socket: Socket) => {
    sockets.add(socket);
    peers.set(socket, peerOf(socket));
    socket.once("close", () => sockets.delete(socket));
  });
  tlsServer.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
    // Node keeps the accepted socket as `_parent` of the TLS socket (not typed, hence Reflect).
    const parent: unknown = Reflect.get(socket, "_parent");
    const peer = (parent instanceof Socket ? peers.get(parent) : undefined) ?? peerOf(socket);
    const problem = handshakeProblem(err, socket);
    if (problem === undefined) log.debug({ peer, err }, "TLS client left");
    else log.warn({ peer, reason: problem }, "refused a TLS connection");
  });
  const bound = await new Promise<number>((resolve, reject) => {
    const onError = (err: Error): void => {
      injector.destroy();
      reject(
        new StagefarmError("unavailable", `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }),
      );
    };
    tlsServer.once("error", onError);
    tlsServer.listen(port, host, () => {
      tlsServer.off("error", onError);
      const addr = tlsServer.address();
      resolve(typeof addr === "object" && addr !== null ? addr.port : port);
    });
  });
  return {
    port: bound,
    stopAccepting: () => {
      tlsServer.close();
    },
    destroyAll: () => {
      for (const s of sockets) s.destroy();
      injector.destroy();
    },
  };
}
