/**
 * The coordinator's HTTP server: `/healthz`, `/readyz`, `/metrics`, the farm binhosts
 * (`/binhost/<name>/…`, see ./binhost/http.ts), the release tree (`/releases/…`, see
 * ./releases/http.ts), and a small JSON API for the embedded
 * `stagefarm up` (`POST /api/v1/runs` with the pipeline's text, see ./api-v1.ts;
 * `GET /api/v1/runs[/ID]`), and the web dashboard (`/ui/`, `/api/dashboard/`, see
 * ./dashboard/dashboard.ts) when given its deps, with the downloads of outputs and blobs
 * (`/api/v1/runs/R/stages/S/outputs/O`, `/api/v1/artifacts/D`, see ./downloads/). Binds to
 * loopback unless told otherwise.
 * Every request passes ./request-guard.ts (a parseable target, a Host of this server, and for
 * writes same-origin JSON) and, with `auth`, its access rules (./auth/http-auth.ts) before
 * routing; with `tls`, it serves HTTPS.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import type { HttpAuth } from "./auth/index.js";
import { serveBinhost, type BinhostHttpOptions } from "./binhost/http.js";
import { createDashboard, type DashboardDeps, type SubmitRequest } from "./dashboard/dashboard.js";
import { serveDownload, type DownloadDeps } from "./downloads/index.js";
import { RELEASES_ROUTE, serveReleases } from "./releases/index.js";
import type { ArtifactStore } from "../shared/store/index.js";
import { httpStatusFor, readJsonBody } from "./dashboard/http-util.js";
import type { CoordinatorMetrics } from "./metrics.js";
import { quoted } from "../shared/util/excerpt.js";
import { parseSubmitBody, SUBMIT_BODY_MAX_BYTES } from "./api-v1.js";
import { requestGuard, type RequestGuard } from "./request-guard.js";
import { namedSubmission, type NamedPipelines } from "./submission/named-pipelines.js";
import { runToJson, type RunRegistry } from "./run-registry.js";
import { listenError } from "../shared/util/listen-error.js";

export interface HttpServerDeps {
  host: string;
  port: number;
  metrics: CoordinatorMetrics;
  /** The embedded JSON API (`stagefarm up`); absent on the distributed coordinator (it has gRPC). */
  runs?: RunRegistry;
  logger: Logger;
  /** Starts a run of the submitted pipeline text; resolves with its id once accepted (the run
   *  continues in the background). */
  submit?: (req: SubmitRequest) => Promise<string>;
  /** Pipelines offered by name (`up --pipelines DIR`); absent: `pipelineName` is refused. */
  namedPipelines?: NamedPipelines;
  /** Names clients reach this server by besides its listen address (`--http-host-name`). */
  hostNames?: readonly string[];
  /** False while draining: /readyz answers 503 and submissions are refused. */
  accepting: () => boolean;
  /** Serve the binhosts of this store under /binhost/ (absent: those paths are 404). */
  binhost?: BinhostHttpOptions;
  /** Serve the release tree of this store under /releases/ (./releases/http.ts; absent: 404). */
  releases?: ArtifactStore;
  /** The web dashboard: `/ui/` and `/api/dashboard/` (./dashboard/dashboard.ts); absent: not served. */
  dashboard?: DashboardDeps;
  /** Access rules (tokens and roles); absent: every request is served (loopback, zero-config). */
  auth?: HttpAuth;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
}

export interface HttpServerHandle {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = type === "application/json" ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(text);
}

export async function startHttpServer(deps: HttpServerDeps): Promise<HttpServerHandle> {
  const log = deps.logger.child({ component: "http" });
  const dashboard =
    deps.dashboard === undefined
      ? undefined
      : createDashboard({
          ...deps.dashboard,
          ...(deps.namedPipelines === undefined ? {} : { namedPipelines: deps.namedPipelines }),
          // Without an auth file every request may do everything.
          whoami: (req) => deps.auth?.whoami(req) ?? { name: "anyone", role: "admin" },
          session: {
            signIn: (token) => deps.auth?.signIn(token) ?? { name: "anyone", role: "admin" },
            secure: deps.tls !== undefined,
          },
          logger: deps.logger,
          metrics: deps.metrics,
          accepting: deps.accepting,
        });
  const board = deps.dashboard;
  const downloads: DownloadDeps | undefined =
    board === undefined ? undefined : { getRun: (id) => board.coordinator.getRun(id), store: board.store };
  // The guard knows the bound port once listening.
  const bound: { guard?: RequestGuard } = {};
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const guard = bound.guard;
    if (guard === undefined) throw new StagefarmError("unavailable", "the server is starting");
    guard.checkHost(req);
    const url = guard.target(req);
    const path = url.pathname;
    const refused = deps.auth?.check(req, path);
    if (refused !== undefined) {
      const peer = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
      log.warn(
        { method: req.method, path, peer, failure: refused.code, reason: refused.message },
        "refused a request",
      );
      res.writeHead(refused.status, {
        ...refused.headers,
        "content-type": "application/json",
        "cache-control": "no-store",
      });
      res.end(`${JSON.stringify({ error: refused.message, code: refused.code })}\n`);
      return;
    }
    guard.checkWrite(req);
    if (deps.binhost !== undefined && path.startsWith("/binhost/")) {
      // A package GET is a binpkg cache lookup: served (or redirected) is a hit, 404 a miss.
      if (req.method === "GET" && !/\/Packages(\.gz)?$/.test(path))
        res.once("finish", () => deps.metrics.binpkgLookup(res.statusCode < 400));
      return serveBinhost(req, res, path, deps.binhost);
    }
    if (deps.releases !== undefined && path.startsWith(RELEASES_ROUTE))
      return serveReleases(deps.releases, req, res);
    if (req.method === "GET" && path === "/healthz") return send(res, 200, "ok\n", "text/plain");
    if (req.method === "GET" && path === "/readyz")
      return deps.accepting()
        ? send(res, 200, "ready\n", "text/plain")
        : send(res, 503, "draining\n", "text/plain");
    if (req.method === "GET" && path === "/metrics") {
      const m = await deps.metrics.exposition();
      return send(res, 200, m.body, m.contentType);
    }
    if (downloads !== undefined && (await serveDownload(downloads, req, res, path))) return;
    if (dashboard !== undefined && (await dashboard.handle(req, res, url))) return;
    const { runs, submit } = deps;
    const noRoute = () =>
      send(res, 404, { error: `no route ${req.method ?? "?"} ${quoted(path)}`, code: "not_found" });
    if (runs === undefined || submit === undefined) return noRoute();
    if (path === "/api/v1/runs" && req.method === "GET")
      return send(res, 200, { runs: (await runs.list()).map(runToJson) });
    if (path === "/api/v1/runs" && req.method === "POST") {
      if (!deps.accepting())
        return send(res, 503, { error: "draining: not accepting runs", code: "unavailable" });
      const body = parseSubmitBody(await readJsonBody(req, SUBMIT_BODY_MAX_BYTES));
      const id = await submit(
        body.t === "text" ? body : await namedSubmission(deps.namedPipelines, body.name, body.params),
      );
      return send(res, 202, { id });
    }
    const m = /^\/api\/v1\/runs\/([A-Za-z0-9-]+)$/.exec(path);
    if (m !== null && req.method === "GET") {
      const rec = await runs.get(m[1] ?? "");
      return rec === undefined
        ? send(res, 404, { error: `no run ${quoted(m[1] ?? "")}`, code: "not_found" })
        : send(res, 200, runToJson(rec));
    }
    return noRoute();
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const e = StagefarmError.from(err);
      const status = httpStatusFor(e.code);
      if (status >= 500) log.error({ err: e.message, code: e.code, path: req.url }, "request failed");
      else log.debug({ err: e.message, code: e.code }, "request refused");
      if (!res.headersSent) send(res, status, { error: e.message, code: e.code });
      else res.end();
    });
  };
  const server: Server =
    deps.tls === undefined
      ? createServer(listener)
      : createHttpsServer({ ...deps.tls, minVersion: "TLSv1.2" }, listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.port, deps.host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    dashboard?.close();
    throw listenError("the HTTP server", `${deps.host}:${deps.port}`, err);
  });
  const addr = server.address() as AddressInfo;
  bound.guard = requestGuard({
    listenHost: deps.host,
    port: addr.port,
    scheme: deps.tls === undefined ? "http" : "https",
    names: deps.hostNames ?? [],
    authEnforced: deps.auth?.enforcing === true,
  });
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | undefined;
  return {
    url: `${deps.tls === undefined ? "http" : "https"}://${host}:${addr.port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        dashboard?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
