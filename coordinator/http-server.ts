/**
 * The coordinator's HTTP server: `/healthz`, `/readyz`, `/metrics`, the farm binhosts
 * (`/binhost/<name>/…`, see ./binhost/http.ts), the release tree (`/releases/…`, see
 * ./releases/http.ts), and a small JSON API for the embedded `stagefarm up` (`POST
 * /api/v1/runs` with the pipeline's text: SubmitRun over HTTP, see ./http-api/;
 * `GET /api/v1/runs[/ID]`: ./run-registry.ts's records), and the web dashboard (`/ui/`,
 * `/api/dashboard/`, see ./dashboard/dashboard.ts) when given its deps, with the downloads of outputs and blobs
 * (`/api/v1/runs/R/stages/S/outputs/O`, `/api/v1/artifacts/D`, see ./downloads/). Binds to
 * loopback unless told otherwise.
 * Every request passes ./request-guard.ts (a parseable target, a Host of this server, and for
 * writes same-origin JSON) and, with `auth`, its access rules (./auth/http-auth.ts) before
 * routing; with `tls`, it serves HTTPS.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import type { HttpAuth } from "./auth/index.js";
import { serveBinhost, type BinhostHttpOptions } from "./binhost/http.js";
import { createDashboard, type DashboardDeps } from "./dashboard/dashboard.js";
import { serveDownload, type DownloadDeps } from "./downloads/index.js";
import { RELEASES_ROUTE, serveReleases } from "./releases/index.js";
import type { ArtifactStore } from "../shared/store/index.js";
import type { CoordinatorMetrics } from "./metrics.js";
import { quoted } from "../shared/util/excerpt.js";
import { runMessage } from "./api/run-message.js";
import { createSubmitApi, type SubmitRequest } from "./api/submit-api.js";
import { V1_RPC_ROUTES } from "./http-api/api-routes.js";
import { httpFailureOf, sendFailure } from "./http-api/http-error.js";
import { rpcRoutes, type HttpAuthorize } from "./http-api/rpc-route.js";
import { dispatch, type Route } from "./http-api/router.js";
import { requestGuard, type RequestGuard } from "./request-guard.js";
import type { NamedPipelines } from "./submission/named-pipelines.js";
import { runToJson, type RunRegistry } from "./run-registry.js";
import { closeHttp, listenHttp } from "../shared/util/http-listen.js";

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

/** The largest submission body: the pipeline text (at most 1 MiB, ./submission/limits.ts) JSON-escaped. */
const SUBMIT_BODY_MAX_BYTES = 4 << 20;

export async function startHttpServer(deps: HttpServerDeps): Promise<HttpServerHandle> {
  const log = deps.logger.child({ component: "http" });
  // Without an auth file every request may do everything.
  const authorize: HttpAuthorize = (req, need, what) =>
    deps.auth?.authorize(req, need, what) ?? { name: "anyone", role: "admin" };
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
          authorize,
          logger: deps.logger,
          metrics: deps.metrics,
          accepting: deps.accepting,
        });
  const { runs, submit } = deps;
  // `POST /api/v1/runs` is SubmitRun: the dashboard's implementation when there is one (the same
  // runs, read model and hooks), else one over the submit hook and the run records.
  const v1: Route[] =
    runs === undefined || submit === undefined
      ? []
      : [
          {
            method: "GET",
            path: /^\/api\/v1\/runs$/,
            handler: async (_req, res) => send(res, 200, { runs: (await runs.list()).map(runToJson) }),
          },
          {
            method: "GET",
            path: /^\/api\/v1\/runs\/([A-Za-z0-9-]+)$/,
            handler: async (_req, res, _url, [id = ""]) => {
              const rec = await runs.get(id);
              if (rec === undefined) throw new StagefarmError("not_found", `no run ${quoted(id)}`);
              send(res, 200, runToJson(rec));
            },
          },
          ...rpcRoutes(
            {
              impl:
                dashboard?.api ??
                createSubmitApi({
                  submit,
                  namedPipelines: deps.namedPipelines,
                  accepting: deps.accepting,
                  runOf: async (id) => {
                    const doc = await runs.get(id);
                    return doc === undefined ? undefined : runMessage(doc);
                  },
                }),
              authorize,
              maxBodyBytes: SUBMIT_BODY_MAX_BYTES,
            },
            V1_RPC_ROUTES,
          ),
        ];
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
    const noRoute = () =>
      send(res, 404, { error: `no route ${req.method ?? "?"} ${quoted(path)}`, code: "not_found" });
    if (!(await dispatch(v1, req, res, url))) noRoute();
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const f = httpFailureOf(err);
      if (f.status >= 500) log.error({ err, code: f.code, path: req.url }, "request failed");
      else log.debug({ err: f.message, code: f.code }, "request refused");
      sendFailure(res, f);
    });
  };
  const server: Server =
    deps.tls === undefined
      ? createServer(listener)
      : createHttpsServer({ ...deps.tls, minVersion: "TLSv1.2" }, listener);
  const addr = await listenHttp(server, deps.host, deps.port, "the HTTP server").catch((err: unknown) => {
    dashboard?.close();
    throw err;
  });
  bound.guard = requestGuard({
    listenHost: deps.host,
    port: addr.port,
    scheme: deps.tls === undefined ? "http" : "https",
    names: deps.hostNames ?? [],
    authEnforced: deps.auth?.enforcing === true,
  });
  let closed: Promise<void> | undefined;
  return {
    url: `${deps.tls === undefined ? "http" : "https"}://${addr.hostPort}`,
    close: () => {
      if (closed === undefined) {
        dashboard?.close();
        closed = closeHttp(server);
      }
      return closed;
    },
  };
}
