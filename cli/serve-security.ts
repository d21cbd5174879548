/**
 * The TLS and access setup of a serving process (`stagefarm coordinator`, `stagefarm up`): its
 * flags, the files they name (private keys and the auth file refused when other users can read
 * them), and the exposure check that refuses a listener reachable from other hosts without TLS
 * or tokens unless `--insecure`. Runs before anything connects, so a bad setup fails at once.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { Authenticator, checkExposure, loadAuthConfig } from "../coordinator/auth/index.js";
import { StagefarmError } from "../shared/errors.js";
import { readSecretFile } from "../shared/secret-file.js";
import type { ServeSecurity } from "./distributed-config.js";

export interface ServeSecurityOptionSet {
  /** Offer --tls-client-ca (mutual TLS of the gRPC API). */
  clientCa: boolean;
}

/** Adds --tls-cert, --tls-key, [--tls-client-ca], --auth and --insecure. */
export function addServeSecurityOptions(cmd: Command, set: ServeSecurityOptionSet): Command {
  cmd
    .option("--tls-cert <file>", "serve TLS with this certificate (env STAGEFARM_TLS_CERT)")
    .option("--tls-key <file>", "key of --tls-cert, mode 0600 (env STAGEFARM_TLS_KEY)");
  if (set.clientCa)
    cmd.option(
      "--tls-client-ca <file>",
      "require gRPC clients to present a certificate signed by this CA (env STAGEFARM_TLS_CLIENT_CA)",
    );
  return cmd
    .option(
      "--auth <file>",
      "tokens and roles (YAML/JSON, mode 0600; see stagefarm certs token) (env STAGEFARM_AUTH)",
    )
    .option(
      "--insecure",
      "serve on a non-loopback address without TLS or without --auth (env STAGEFARM_INSECURE=1)",
    )
    .option(
      "--plain-http",
      "serve --http without TLS even with --tls-cert, e.g. for portage clients without the farm CA (env STAGEFARM_PLAIN_HTTP=1)",
    )
    .option(
      "--http-host-name <name>",
      "a DNS name clients reach --http by (repeatable; env STAGEFARM_HTTP_HOST_NAMES, comma-separated). " +
        "Requests whose Host header names anything else are refused (DNS rebinding): accepted are the " +
        "listen address, 127.0.0.1/localhost/[::1] on loopback, any IP address on 0.0.0.0 or ::, and these " +
        "names; on 0.0.0.0 or :: with --auth any Host is accepted",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    );
}

export interface LoadedSecurity {
  /** PEM material for the gRPC listener; absent: plain text. */
  tls: { cert: Buffer; key: Buffer; clientCa?: Buffer } | undefined;
  /** The HTTP listener's certificate; absent: plain text (no TLS, or --plain-http). */
  httpTls: { cert: Buffer; key: Buffer } | undefined;
  auth: Authenticator;
  /** What --insecure let through, to log as warnings. */
  risks: string[];
  /** Names the HTTP listener answers to besides its address (--http-host-name). */
  httpHostNames: string[];
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err: unknown) {
    const e = StagefarmError.from(err, "invalid_argument");
    throw new StagefarmError(e.code, `cannot read ${what} ${file}: ${e.message}`, { cause: err });
  }
}

/** The host and port of a gRPC `--listen` address as bound ("" is every interface). */
export function grpcHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(i + 1)) };
}

/**
 * Checks the listeners (what, flag, host and port as bound; `http` marks the HTTP one) against
 * `sec`, then reads the TLS files and the auth file. Throws a StagefarmError naming every problem.
 */
export async function loadServeSecurity(
  sec: ServeSecurity,
  listeners: ReadonlyArray<{ what: string; flag: string; host: string; port: number; http?: boolean }>,
): Promise<LoadedSecurity> {
  const plain = (l: { http?: boolean }): boolean => l.http === true && sec.plainHttp;
  const risks = checkExposure(
    listeners.map((l) => ({ ...l, tls: sec.tlsCert !== undefined && !plain(l), plainOk: plain(l) })),
    { auth: sec.authFile !== undefined, insecure: sec.insecure },
  );
  const tls =
    sec.tlsCert === undefined || sec.tlsKey === undefined
      ? undefined
      : {
          cert: await readPem(sec.tlsCert, "TLS certificate"),
          key: await readSecretFile(sec.tlsKey, "TLS key"),
          ...(sec.tlsClientCa === undefined
            ? {}
            : { clientCa: await readPem(sec.tlsClientCa, "TLS client CA") }),
        };
  const auth =
    sec.authFile === undefined
      ? Authenticator.open()
      : Authenticator.fromConfig(await loadAuthConfig(sec.authFile));
  const httpTls = tls === undefined || sec.plainHttp ? undefined : { cert: tls.cert, key: tls.key };
  return { tls, httpTls, auth, risks, httpHostNames: sec.httpHostNames };
}
