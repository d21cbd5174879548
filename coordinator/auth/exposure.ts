/**
 * Who can reach a listener decides what it needs. On loopback only this host's users can
 * connect: plain text and no tokens are fine (the embedded farm stays zero-config). Anywhere else
 * a listener needs TLS (tokens and builds would cross the network in clear) and an auth file
 * (anyone who reaches it could submit builds that run as root on the agents), unless the
 * operator says `--insecure`; the process then starts with a warning. A listener may be let
 * off TLS alone (`--plain-http`: portage clients of the binhost that lack the farm's CA); that is
 * a warning too.
 */
import { isIP } from "node:net";
import { StagefarmError } from "../../shared/errors.js";

/** localhost, 127.0.0.0/8, ::1 (also in brackets); "" and 0.0.0.0 / :: mean every interface. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

export interface Listener {
  /** "gRPC" or "HTTP". */
  what: string;
  /** The flag that sets it, for messages. */
  flag: string;
  host: string;
  port: number;
  tls: boolean;
  /** Plain text accepted for this listener (it still needs an auth file). */
  plainOk?: boolean;
}

/**
 * Throws (naming every listener and what it lacks) unless each listener is safe or `insecure`;
 * returns the warnings to log for what was let through.
 */
export function checkExposure(
  listeners: readonly Listener[],
  opts: { auth: boolean; insecure: boolean },
): string[] {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const l of listeners) {
    if (isLoopbackHost(l.host)) continue;
    const where = `${l.what} on ${l.host === "" ? "*" : l.host}:${l.port} (${l.flag})`;
    if (!l.tls && l.plainOk === true)
      warnings.push(
        `${where} serves plain text (--plain-http): tokens sent to it cross the network in clear`,
      );
    else if (!l.tls)
      problems.push(
        `${where} is reachable from other hosts without TLS: tokens and pipelines would cross the network in clear; pass --tls-cert and --tls-key (stagefarm certs init DIR makes them)`,
      );
    if (!opts.auth)
      problems.push(
        `${where} is reachable from other hosts without authentication: anyone could submit builds that run as root; pass --auth FILE (stagefarm certs token makes tokens)`,
      );
  }
  if (problems.length === 0) return warnings;
  if (opts.insecure) return [...problems, ...warnings];
  throw new StagefarmError(
    "invalid_argument",
    `refusing to serve:\n  ${problems.join("\n  ")}\nor bind to 127.0.0.1, or pass --insecure to accept the risk`,
  );
}
