/**
 * The HTTP server's access rules, checked before routing (coordinator/http-server.ts): the
 * same tokens and roles as the gRPC API.
 *
 * Credentials: `Authorization: Bearer sft_…`, or the cookie `stagefarm_token` (for the dashboard's
 * page and EventSource, which cannot set headers; the page's sign-in, `POST /api/dashboard/session`
 * with the token, sets it HttpOnly and SameSite=Strict). A request authenticated by the cookie that
 * changes something must come from this origin (its `Origin` matches `Host`): no cross-site
 * request rides on a browser's cookie. `/binhost/` (and `/releases/`) take HTTP basic auth when the
 * auth file sets `binhost_auth` (portage puts user:password in its sync-uri), else anyone may read them.
 *
 * Rules, first match wins (HTTP_RULES): `/healthz`, `/readyz`, `/` and the dashboard's static
 * files under `/ui` are open; `/metrics` needs a viewer unless `metrics: open`; POST under
 * `/api/v1/runs` or `/api/dashboard/runs` (submit, cancel, retry) needs a submitter; draining an
 * agent an admin; any other GET or HEAD a viewer; any other write an admin.
 */
import type { IncomingMessage } from "node:http";
import { httpStatusFor } from "../../shared/errors.js";
import { AuthError, type AuthFailure, type Principal } from "../../shared/grpc/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import type { Authenticator } from "./authenticator.js";
import type { Role } from "./roles.js";
import { parseAuthorization, tokenCredential, type Credential } from "./tokens.js";

export type HttpAccess = "open" | "metrics" | "binhost" | Role;

export interface HttpRule {
  /** Methods the rule applies to (all when absent). */
  methods?: readonly string[];
  path: RegExp;
  access: HttpAccess;
}

const READ = ["GET", "HEAD"] as const;

export const HTTP_RULES: readonly HttpRule[] = [
  { path: /^\/(healthz|readyz)$/, access: "open" },
  { path: /^\/metrics$/, methods: READ, access: "metrics" },
  { path: /^\/binhost\//, methods: READ, access: "binhost" },
  // Releases are read like the binhost: by anyone unless `binhost_auth` is set.
  { path: /^\/releases\//, methods: READ, access: "binhost" },
  { path: /^\/(ui(\/.*)?)?$/, methods: READ, access: "open" },
  { path: /^\/api\/v1\/runs(\/.*)?$/, methods: ["POST"], access: "submitter" },
  // Signing in and out of the dashboard (the token is checked by the handler itself).
  { path: /^\/api\/dashboard\/session$/, methods: ["POST", "DELETE"], access: "open" },
  { path: /^\/api\/dashboard\/agents\/[^/]+\/drain$/, methods: ["POST"], access: "admin" },
  { path: /^\/api\/dashboard\/runs(\/.*)?$/, methods: ["POST"], access: "submitter" },
  { path: /^\//, methods: READ, access: "viewer" },
  { path: /^\//, access: "admin" },
];

export const TOKEN_COOKIE = "stagefarm_token";

export interface HttpRefusal {
  /** 401 or 403, from the HTTP status table (shared/errors.ts). */
  status: number;
  /** The reason, for the response body and the log (never a secret). */
  message: string;
  code: AuthFailure;
  headers: Record<string, string>;
}

export interface HttpAuth {
  /** Whether tokens are checked (an auth file was given). */
  readonly enforcing: boolean;
  /** undefined when the request may proceed, else what to answer. */
  check(req: IncomingMessage, path: string): HttpRefusal | undefined;
  /** Who the request's credentials name (undefined when they name no one). */
  whoami(req: IncomingMessage): Principal | undefined;
  /** Who `token` names, for the dashboard's sign-in; throws AuthError when it names no one. */
  signIn(token: string): Principal;
  /** Who the request's credentials name, once they may do `what`, which needs `need` (the
   *  HTTP API's RPCs: coordinator/auth/rpc-roles.ts); else an AuthError. */
  authorize(req: IncomingMessage, need: Role, what: string): Principal;
}

function accessFor(method: string, path: string): HttpAccess {
  for (const r of HTTP_RULES)
    if ((r.methods === undefined || r.methods.includes(method)) && r.path.test(path)) return r.access;
  return "admin";
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === TOKEN_COOKIE)
      return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? "");
  if (m === null) return undefined;
  const text = Buffer.from(m[1] ?? "", "base64").toString("utf8");
  const i = text.indexOf(":");
  return i < 0 ? undefined : { user: text.slice(0, i), password: text.slice(i + 1) };
}

function refusal(err: AuthError, challenge: string): HttpRefusal {
  const headers: Record<string, string> =
    err.code === "unauthenticated" ? { "www-authenticate": challenge } : {};
  return { status: httpStatusFor(err.code), message: err.message, code: err.code, headers };
}

const BEARER = 'Bearer realm="stagefarm"';
const BASIC = 'Basic realm="stagefarm binhost", charset="UTF-8"';

export function httpAuth(auth: Authenticator): HttpAuth {
  const credentialOf = (req: IncomingMessage): { cred: Credential; viaCookie: boolean } => {
    if (req.headers.authorization !== undefined)
      return { cred: parseAuthorization(req.headers.authorization), viaCookie: false };
    const cookie = cookieToken(req);
    return cookie === undefined
      ? { cred: { t: "none" }, viaCookie: false }
      : { cred: tokenCredential(cookie), viaCookie: true };
  };

  const binhost = (req: IncomingMessage): HttpRefusal | undefined => {
    if (auth.binhostOpen()) return undefined;
    const basic = basicCredentials(req.headers.authorization);
    if (basic !== undefined)
      return auth.checkBinhostPassword(basic.user, basic.password)
        ? undefined
        : refusal(new AuthError("unauthenticated", "wrong binhost user or password"), BASIC);
    // A valid farm token of any role reads the binhost too.
    const cred = parseAuthorization(req.headers.authorization);
    if (cred.t === "token") {
      try {
        auth.authenticate(cred);
        return undefined;
      } catch (err: unknown) {
        if (!(err instanceof AuthError)) throw err;
      }
    }
    return refusal(new AuthError("unauthenticated", "the binhost needs a user and password"), BASIC);
  };

  return {
    get enforcing() {
      return auth.enforcing;
    },
    signIn(token) {
      return auth.authenticate(tokenCredential(token));
    },
    authorize(req, need, what) {
      const who = auth.authenticate(credentialOf(req).cred);
      auth.require(who, need, what);
      return who;
    },
    whoami(req) {
      try {
        return auth.authenticate(credentialOf(req).cred);
      } catch (err: unknown) {
        if (err instanceof AuthError) return undefined;
        throw err;
      }
    },
    check(req, path) {
      const method = req.method ?? "GET";
      const access = accessFor(method, path);
      if (access === "open" || (access === "metrics" && auth.openMetrics)) return undefined;
      if (access === "binhost") return binhost(req);
      const need: Role = access === "metrics" ? "viewer" : access;
      try {
        const { cred, viaCookie } = credentialOf(req);
        const who: Principal = auth.authenticate(cred);
        if (
          viaCookie &&
          !READ.includes(method as (typeof READ)[number]) &&
          auth.enforcing &&
          !sameOrigin(req)
        )
          throw new AuthError(
            "permission_denied",
            "cross-site request refused: its Origin is not this server",
          );
        auth.require(who, need, `${excerpt(method, 20)} ${excerpt(path)}`);
        return undefined;
      } catch (err: unknown) {
        if (err instanceof AuthError) return refusal(err, BEARER);
        throw err;
      }
    },
  };
}
