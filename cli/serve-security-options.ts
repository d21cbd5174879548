/** The TLS and access options of the processes that serve (`stagefarm coordinator`, `stagefarm up`); read by ./serve-security.ts. */
import type { Command } from "commander";
import { envOption, envSwitch } from "./options.js";

export interface ServeSecurityOptionSet {
  /** Offer --tls-client-ca (mutual TLS of the gRPC API). */
  clientCa: boolean;
}

/** Adds --tls-cert, --tls-key, [--tls-client-ca], --auth and --insecure. */
export function addServeSecurityOptions(cmd: Command, set: ServeSecurityOptionSet): Command {
  cmd
    .addOption(envOption("--tls-cert <file>", "serve TLS with this certificate", "STAGEFARM_TLS_CERT"))
    .addOption(envOption("--tls-key <file>", "key of --tls-cert, mode 0600", "STAGEFARM_TLS_KEY"));
  if (set.clientCa)
    cmd.addOption(
      envOption(
        "--tls-client-ca <file>",
        "require gRPC clients to present a certificate signed by this CA",
        "STAGEFARM_TLS_CLIENT_CA",
      ),
    );
  return cmd
    .addOption(
      envOption(
        "--auth <file>",
        "tokens and roles (YAML/JSON, mode 0600; see stagefarm certs token)",
        "STAGEFARM_AUTH",
      ),
    )
    .addOption(
      envSwitch(
        "--insecure",
        "serve on a non-loopback address without TLS or without --auth",
        "STAGEFARM_INSECURE",
      ),
    )
    .addOption(
      envSwitch(
        "--plain-http",
        "serve --http without TLS even with --tls-cert, e.g. for portage clients without the farm CA",
        "STAGEFARM_PLAIN_HTTP",
      ),
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
