/**
 * The TLS and access setup of a serving process (`stagefarm coordinator`, `stagefarm up`): its
 * flags, the files they name (private keys and the auth file refused when other users can read
 * them), and the exposure check that refuses a listener reachable from other hosts without TLS
 * or tokens unless `--insecure`. Runs before anything connects, so a bad setup fails at once.
 */
import type { Authenticator } from "../coordinator/auth/index.js";
import { readPem } from "../shared/util/fs.js";
import { readSecretFile } from "../shared/secret-file.js";
import type { ServeSecurity } from "./distributed-config.js";

// Registrations import the options from ./serve-security-options.js (this module stays for the actions).
export { addServeSecurityOptions } from "./serve-security-options.js";

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
  const { Authenticator, checkExposure, loadAuthConfig } = await import("../coordinator/auth/index.js");
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
