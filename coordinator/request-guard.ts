/**
 * The checks every request to the coordinator's HTTP server passes before routing, in one
 * place (coordinator/http-server.ts calls them; no route repeats them):
 *
 * - **The request target parses** (`GET //%%` is a 400, not a 500).
 * - **Host is one of this server's names** (DNS rebinding: a page whose name an attacker
 *   re-points at 127.0.0.1 sends its own name as Host). Accepted: the listen address itself;
 *   on loopback also `127.0.0.1`, `localhost` and `[::1]`; when listening on every interface
 *   any IP literal (an IP cannot be rebound: a page at that origin is this server); and the
 *   names given with `--http-host-name` (with any port, for reverse proxies). Built-in names
 *   must carry the bound port (or none when it is the scheme's default). On every interface
 *   with tokens enforced (`--auth`), any Host is accepted: a rebound page holds no token.
 * - **A state-changing request (anything but GET, HEAD, OPTIONS) is JSON from this origin**:
 *   `Sec-Fetch-Site` cross-site or same-site is refused, an `Origin` present must name the
 *   request's Host (scheme aside: a TLS-terminating proxy may stand in front), and the body type must be `application/json` — which a
 *   cross-site form cannot send and a cross-site `fetch` can only send after a CORS preflight
 *   this server never grants.
 */
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { StagefarmError } from "../shared/errors.js";
import { quoted } from "../shared/util/excerpt.js";

export interface HostPolicy {
  /** The listen host as configured ("" or 0.0.0.0 or :: is every interface). */
  listenHost: string;
  /** The bound port. */
  port: number;
  scheme: "http" | "https";
  /** Extra names clients use (`--http-host-name`), any port. */
  names: readonly string[];
  /** Tokens are enforced (an auth file): on every interface any Host is then accepted. */
  authEnforced: boolean;
}

export interface RequestGuard {
  /** The request's URL; a target that does not parse is `invalid_argument`. */
  target(req: IncomingMessage): URL;
  /** Throws `invalid_argument` when Host is not a name of this server. */
  checkHost(req: IncomingMessage): void;
  /** Throws `invalid_argument` when a state-changing request is not same-origin JSON. */
  checkWrite(req: IncomingMessage): void;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);
const WILDCARD: ReadonlySet<string> = new Set(["", "0.0.0.0", "::", "[::]"]);

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `host[:port]` split; the host lowercased and IPv6 kept without brackets. */
function splitHost(value: string): { host: string; port: string | undefined } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value);
  if (m === null) return undefined;
  const host = (m[1] ?? m[2] ?? "").toLowerCase().replace(/\.$/, "");
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port: m[3] };
}

/** The `host[:port]` of an Origin header ("null" and garbage: undefined). */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

export function requestGuard(policy: HostPolicy): RequestGuard {
  const listen = policy.listenHost.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const wildcard = WILDCARD.has(listen);
  const builtIn = new Set<string>(wildcard ? ["localhost"] : [listen]);
  if (isLoopback(listen)) for (const h of ["127.0.0.1", "localhost", "::1"]) builtIn.add(h);
  const names = new Set(policy.names.map((n) => n.toLowerCase().replace(/\.$/, "")));
  const defaultPort = policy.scheme === "https" ? "443" : "80";
  const portOk = (port: string | undefined): boolean => Number(port ?? defaultPort) === policy.port;
  const accepted = [...builtIn].map((h) => `${h.includes(":") ? `[${h}]` : h}:${policy.port}`);
  const hint = `accepted: ${[...accepted, ...names].join(", ")}${
    wildcard ? ", any IP address" : ""
  }; name others with --http-host-name`;

  const hostAllowed = (raw: string | undefined): boolean => {
    if (wildcard && policy.authEnforced) return true;
    const h = raw === undefined ? undefined : splitHost(raw);
    if (h === undefined) return false;
    if (names.has(h.host)) return true;
    if (builtIn.has(h.host) || (wildcard && isIP(h.host) !== 0)) return portOk(h.port);
    return false;
  };

  return {
    target(req) {
      try {
        return new URL(req.url ?? "/", "http://stagefarm.invalid");
      } catch (err: unknown) {
        throw new StagefarmError("invalid_argument", "the request target is not a valid URL path", {
          cause: err,
        });
      }
    },
    checkHost(req) {
      const host = req.headers.host;
      if (hostAllowed(host)) return;
      throw new StagefarmError(
        "invalid_argument",
        host === undefined
          ? "the request has no Host header"
          : `Host ${quoted(host, 80)} is not a name of this server (${hint})`,
      );
    },
    checkWrite(req) {
      if (SAFE_METHODS.has(req.method ?? "GET")) return;
      const site = req.headers["sec-fetch-site"];
      if (site === "cross-site" || site === "same-site")
        throw new StagefarmError("invalid_argument", "cross-site requests are refused");
      const origin = req.headers.origin;
      if (origin !== undefined && originHost(origin) !== req.headers.host?.toLowerCase())
        throw new StagefarmError(
          "invalid_argument",
          `cross-site request refused: Origin ${quoted(origin, 80)} is not this server`,
        );
      if (!/^application\/json\s*(;|$)/i.test(req.headers["content-type"] ?? ""))
        throw new StagefarmError(
          "invalid_argument",
          "state-changing requests must send content-type application/json",
        );
    },
  };
}
