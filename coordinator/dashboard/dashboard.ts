/**
 * The web dashboard on the coordinator's HTTP server (embedded `stagefarm up` and `stagefarm
 * coordinator --http`). The page (web/, built to dist/web/) is served under `/ui/`; it reads
 * the gRPC API's protobuf messages as proto3 JSON and follows server-sent events, all under
 * `/api/dashboard/`. No second RPC stack: where the API has a message, that message is what
 * goes over the wire.
 *
 * The runs, agents and cache entries are StagefarmService's RPCs served over HTTP by the one
 * implementation (../api/stagefarm-api.ts, through ../http-api/: the routes are
 * ../http-api/api-routes.ts's), with this dashboard's run read model (./run-tracker.ts) as its
 * view of runs. The rest are the page's own, with the role each needs once the server
 * authenticates requests (coordinator/auth/http-auth.ts's HTTP_RULES; `whoami` tells the page
 * which actions to offer):
 *
 *   GET  /api/dashboard/runs/ID/events      SSE: `run` (RunEvent with the whole run), `stage`        viewer
 *   GET  /api/dashboard/runs/ID/stages/S/key     the cache key material (./key-material.ts)         viewer
 *   GET  /api/dashboard/runs/ID/stages/S/log[/search|/events|/times]   (./log-routes.ts)           viewer
 *   GET  /api/dashboard/pipelines           the pipelines offered by name, with params (./pipeline-list.ts)  viewer
 *   GET  /api/dashboard/cache               cache and binhost summary (./cache-summary.ts)          viewer
 *   GET  /api/dashboard/events              SSE: `hello`, `run` (RunEvent with a summary), `agents`  viewer
 *   GET  /api/dashboard/whoami              {name, role} of the caller's credentials                viewer
 *   POST /api/dashboard/session             {token} → sets the token cookie (HttpOnly), {name, role}  open
 *   DELETE /api/dashboard/session           clears it (signing out)                                 open
 *
 * Event ids and resuming: ./event-hub.ts. Writes must be same-origin JSON (../request-guard.ts
 * checks every one before routing).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ListAgentsResponseSchema } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { MessageBus } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { excerpt, quoted } from "../../shared/util/excerpt.js";
import type { Logger } from "../../shared/log.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import { ExpectedDurations } from "../stats/expected-durations.js";
import { AuthError } from "../../shared/grpc/index.js";
import { agentMessage } from "../api/run-message.js";
import { createStagefarmApi } from "../api/stagefarm-api.js";
import type { SubmitRequest } from "../api/submit-api.js";
import { TOKEN_COOKIE } from "../auth/index.js";
import { DASHBOARD_API, DASHBOARD_RPC_ROUTES } from "../http-api/api-routes.js";
import { httpFailureOf, sendFailure } from "../http-api/http-error.js";
import { rpcRoutes, type HttpAuthorize } from "../http-api/rpc-route.js";
import { dispatch, type Handler, type Route } from "../http-api/router.js";
import type { CoordinatorMetrics } from "../metrics.js";
import type { Coordinator } from "../service/coordinator.js";
import type { NamedPipelines } from "../submission/named-pipelines.js";
import { CacheSummaries } from "./cache-summary.js";
import { EventHub } from "./event-hub.js";
import { readJsonBody, segment, sendJson } from "./http-util.js";
import { keyMaterialOf } from "./key-material.js";
import { LiveLogs } from "./live-logs.js";
import { serveLiveLog, serveLogSearch, serveLogTimes, serveStoredLog } from "./log-routes.js";
import { RunTracker } from "./run-tracker.js";
import { PipelineList } from "./pipeline-list.js";
import type { SseStream } from "./sse.js";
import { eventStreams } from "./event-streams.js";
import { StaticFiles } from "./static-files.js";

export interface DashboardDeps {
  coordinator: Coordinator;
  store: ArtifactStore;
  bus: MessageBus;
  subjects: Subjects;
  /** Starts a run and resolves with its id (default: `coordinator.submit`). The embedded farm
   *  passes its own, which also starts a local agent with the labels the pipeline needs. */
  submit?: (req: SubmitRequest) => Promise<string>;
  /** Pipelines offered by name (`up --pipelines DIR`): listed, and submitted as `{pipelineName}`. */
  namedPipelines?: NamedPipelines;
  /** The built page (default: dist/web/ beside this module). */
  staticDir?: string;
  /** Who a request's credentials name, for `whoami` (set by the HTTP server). */
  whoami?: (req: IncomingMessage) => { name: string; role: string };
  /** Signing in: who a token names (throws AuthError), and whether the cookie is HTTPS-only. */
  session?: { signIn: (token: string) => { name: string; role: string }; secure: boolean };
  /** The role check of the API's RPCs (set by the HTTP server; default: everyone may do everything). */
  authorize?: HttpAuthorize;
}

export interface Dashboard {
  /** Serves the request if it is the dashboard's (`/`, `/ui/…`, `/api/dashboard/…`); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** The API implementation the dashboard serves (its run reads are the dashboard's read model). */
  readonly api: ServiceImpl<typeof StagefarmService>;
  close(): void;
}

const RUN = "([A-Za-z0-9-]+)";
const SEG = "([^/]+)";
const at = (path: string): RegExp => new RegExp(`^${DASHBOARD_API}${path}$`);

/** The dashboard's token cookie: HttpOnly (no script reads it), SameSite=Strict, for the whole site. */
function sessionCookie(token: string, secure: boolean, maxAgeS = 30 * 24 * 3600): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? "; Secure" : ""}`;
}

export function createDashboard(
  deps: DashboardDeps & { logger: Logger; metrics?: CoordinatorMetrics; accepting: () => boolean },
): Dashboard {
  const { coordinator } = deps;
  const log = deps.logger.child({ component: "dashboard" });
  const hub = new EventHub();
  const globals = new Set<SseStream>();
  let agentsJson = "";
  const agentsMessage = (): JsonValue =>
    toJson(
      ListAgentsResponseSchema,
      create(ListAgentsResponseSchema, { agents: coordinator.agents.list().map(agentMessage) }),
    );
  const tracker = new RunTracker(
    coordinator,
    hub,
    log,
    () => {
      if (globals.size === 0) return;
      const json = agentsMessage();
      const text = JSON.stringify(json);
      if (text === agentsJson) return;
      agentsJson = text;
      for (const s of globals) s.send("agents", json);
    },
    new ExpectedDurations(deps.store, log),
  );
  const live = new LiveLogs(deps.bus, deps.subjects, (l) => coordinator.onEvent(l));
  const cache = new CacheSummaries(deps.store, deps.metrics);
  const files = new StaticFiles(deps.staticDir);
  const logDeps = { coordinator, store: deps.store, live };
  const pipelineList = new PipelineList(deps.namedPipelines, (yaml, path) =>
    coordinator.parseSubmission(yaml, path),
  );
  const api = createStagefarmApi({
    coordinator,
    store: deps.store,
    bus: deps.bus,
    subjects: deps.subjects,
    submit: deps.submit,
    namedPipelines: deps.namedPipelines,
    accepting: deps.accepting,
    liveLogs: live,
    views: {
      run: async (id) => (await tracker.run(id)).run,
      listed: (doc) => Promise.resolve(tracker.summary(doc)),
      changed: (id) => tracker.invalidate(id),
    },
  });
  const authorize: HttpAuthorize = deps.authorize ?? (() => ({ name: "anyone", role: "admin" }));

  const { runEvents, globalEvents } = eventStreams({ hub, tracker, globals, agentsMessage });

  const withRun =
    (
      fn: (
        req: IncomingMessage,
        res: ServerResponse,
        url: URL,
        id: string,
        stage: string,
      ) => Promise<void> | void,
    ): Handler =>
    async (req, res, url, [id = "", stage = ""]) => {
      const doc = await coordinator.getRun(id);
      const name = segment(stage, "stage name");
      if (doc.stages[name] === undefined)
        throw new StagefarmError("not_found", `run ${quoted(id)} has no stage ${quoted(name)}`);
      await fn(req, res, url, id, name);
    };

  const routes: Route[] = [
    ...rpcRoutes({ impl: api, authorize }, DASHBOARD_RPC_ROUTES),
    { method: "GET", path: at(`/runs/${RUN}/events`), handler: runEvents },
    {
      method: "GET",
      path: at(`/runs/${RUN}/stages/${SEG}/key`),
      handler: withRun(async (_req, res, _url, id, stage) =>
        sendJson(res, 200, keyMaterialOf(await coordinator.getRun(id), stage)),
      ),
    },
    {
      method: "GET",
      path: at(`/runs/${RUN}/stages/${SEG}/log`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveStoredLog(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      path: at(`/runs/${RUN}/stages/${SEG}/log/search`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveLogSearch(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      path: at(`/runs/${RUN}/stages/${SEG}/log/times`),
      handler: withRun(async (_req, res, url, id, stage) =>
        serveLogTimes(logDeps, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      path: at(`/runs/${RUN}/stages/${SEG}/log/events`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveLiveLog(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      path: at("/pipelines"),
      handler: async (_req, res) => sendJson(res, 200, await pipelineList.get()),
    },
    {
      method: "GET",
      path: at("/cache"),
      handler: async (_req, res) => sendJson(res, 200, await cache.get()),
    },
    { method: "GET", path: at("/events"), handler: globalEvents },
    {
      method: "POST",
      path: at("/session"),
      handler: async (req, res) => {
        const body = (await readJsonBody(req)) as { token?: unknown };
        if (typeof body.token !== "string" || body.token.trim() === "")
          throw new StagefarmError(
            "invalid_argument",
            "a token is required (stagefarm certs token makes one)",
          );
        let who: { name: string; role: string };
        try {
          who = (deps.session?.signIn ?? (() => ({ name: "anyone", role: "admin" })))(body.token.trim());
        } catch (err: unknown) {
          if (!(err instanceof AuthError)) throw err;
          sendJson(res, 401, { error: err.message, code: "unauthenticated" });
          return;
        }
        res.setHeader("set-cookie", sessionCookie(body.token.trim(), deps.session?.secure === true));
        sendJson(res, 200, { name: who.name, role: who.role });
      },
    },
    {
      method: "DELETE",
      path: at("/session"),
      handler: (req, res) => {
        res.setHeader("set-cookie", sessionCookie("", deps.session?.secure === true, 0));
        sendJson(res, 200, {});
      },
    },
    {
      method: "GET",
      path: at("/whoami"),
      handler: (req, res) => {
        const who = deps.whoami?.(req) ?? { name: "anyone", role: "admin" };
        sendJson(res, 200, { name: who.name, role: who.role });
      },
    },
  ];

  return {
    api,
    async handle(req, res, url) {
      const path = url.pathname;
      if (path === "/" || path === "/ui") {
        res.writeHead(302, { location: "/ui/" });
        res.end();
        return true;
      }
      if (path.startsWith("/ui/")) {
        if (req.method !== "GET" && req.method !== "HEAD") return false;
        await files.serve(req, res, path.slice("/ui/".length));
        return true;
      }
      if (!path.startsWith(`${DASHBOARD_API}/`)) return false;
      try {
        if (!(await dispatch(routes, req, res, url)))
          throw new StagefarmError("not_found", `no route ${excerpt(req.method ?? "?", 20)} ${quoted(path)}`);
      } catch (err: unknown) {
        const f = httpFailureOf(err);
        if (f.status >= 500) log.error({ err, code: f.code, path }, "dashboard request failed");
        sendFailure(res, f);
      }
      return true;
    },
    close() {
      tracker.close();
      live.close();
      for (const s of globals) s.close();
    },
  };
}
