/**
 * The web dashboard on the coordinator's HTTP server (embedded `stagefarm up` and `stagefarm
 * coordinator --http`). The page (web/, built to dist/web/) is served under `/ui/`; it reads
 * the gRPC API's protobuf messages as proto3 JSON and follows server-sent events, all under
 * `/api/dashboard/`. Actions call the same Coordinator methods the gRPC handlers call. No
 * second RPC stack: where the API has a message, that message is what goes over the wire.
 *
 * Routes, with the role each needs once the server authenticates requests (the rules are
 * coordinator/auth/http-auth.ts's HTTP_RULES; `whoami` tells the page which actions to offer):
 *
 *   GET  /api/dashboard/runs?status=&pipeline=&pageSize=&pageToken=   ListRunsResponse (summaries)   viewer
 *   POST /api/dashboard/runs                SubmitRunRequest, or {pipelineName, params} → 202 SubmitRunResponse   submitter
 *   GET  /api/dashboard/runs/ID             GetRunResponse (every stage with its attempts)          viewer
 *   GET  /api/dashboard/runs/ID/events      SSE: `run` (RunEvent with the whole run), `stage`        viewer
 *   POST /api/dashboard/runs/ID/cancel      CancelRunResponse                                       submitter
 *   POST /api/dashboard/runs/ID/stages/S/retry   RetryStageResponse                                 submitter
 *   GET  /api/dashboard/runs/ID/stages/S/key     the cache key material (./key-material.ts)         viewer
 *   GET  /api/dashboard/runs/ID/stages/S/log[/search|/events|/times]   (./log-routes.ts)           viewer
 *   GET  /api/dashboard/agents              ListAgentsResponse                                      viewer
 *   POST /api/dashboard/agents/A/drain      DrainAgentResponse                                      admin
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
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  CancelRunResponseSchema,
  DrainAgentResponseSchema,
  GetRunResponseSchema,
  ListAgentsResponseSchema,
  ListRunsResponseSchema,
  RetryStageResponseSchema,
  SubmitRunRequestSchema,
  SubmitRunResponseSchema,
} from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { MessageBus } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { excerpt, quoted } from "../../shared/util/excerpt.js";
import type { Logger } from "../../shared/log.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { ExpectedDurations } from "../stats/expected-durations.js";
import { AuthError } from "../../shared/grpc/index.js";
import { agentMessage } from "../api/run-message.js";
import { TOKEN_COOKIE } from "../auth/index.js";
import type { CoordinatorMetrics } from "../metrics.js";
import type { Coordinator } from "../service/coordinator.js";
import { namedSubmission, type NamedPipelines } from "../submission/named-pipelines.js";
import { CacheSummaries } from "./cache-summary.js";
import { EventHub } from "./event-hub.js";
import { httpStatusFor, intParam, readJsonBody, segment, sendJson, sendMessage } from "./http-util.js";
import { keyMaterialOf } from "./key-material.js";
import { LiveLogs } from "./live-logs.js";
import { serveLiveLog, serveLogSearch, serveLogTimes, serveStoredLog } from "./log-routes.js";
import { RunTracker } from "./run-tracker.js";
import { PipelineList } from "./pipeline-list.js";
import { parseRunStatuses } from "./run-view.js";
import type { SseStream } from "./sse.js";
import { eventStreams } from "./event-streams.js";
import { StaticFiles } from "./static-files.js";
import type { ReproSubmission } from "../repro/repro-request.js";

export interface SubmitRequest {
  yaml: string;
  path: string;
  params: Record<string, string>;
  /** `--repro`: stages to build twice and compare (../repro/). */
  repro?: ReproSubmission;
}

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
}

export interface Dashboard {
  /** Serves the request if it is the dashboard's (`/`, `/ui/…`, `/api/dashboard/…`); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  close(): void;
}

const API = "/api/dashboard";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, p: string[]) => Promise<void> | void;

interface Route {
  method: "GET" | "POST" | "DELETE";
  re: RegExp;
  handler: Handler;
}

const RUN = "([A-Za-z0-9-]+)";
const SEG = "([^/]+)";

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
  const submit = deps.submit ?? (async (r: SubmitRequest) => (await coordinator.submit(r)).id);
  const pipelineList = new PipelineList(deps.namedPipelines, (yaml, path) =>
    coordinator.parseSubmission(yaml, path),
  );

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

  /** A submit body: a SubmitRunRequest, or `{pipelineName, params}` (one of the offered pipelines). */
  const submission = async (raw: unknown): Promise<SubmitRequest> => {
    const named =
      typeof raw === "object" && raw !== null && !Array.isArray(raw) && "pipelineName" in raw
        ? (raw as Record<string, unknown>)
        : undefined;
    const { pipelineName, ...request } = named ?? {};
    let body;
    try {
      body = fromJson(SubmitRunRequestSchema, (named === undefined ? raw : request) as JsonValue);
    } catch (err: unknown) {
      if (err instanceof StagefarmError) throw err;
      throw new StagefarmError("invalid_argument", `not a SubmitRunRequest: ${excerpt(String(err))}`, {
        cause: err,
      });
    }
    const params = { ...body.params };
    const repro =
      body.reproStages.length === 0 && !body.reproStrict
        ? {}
        : { repro: { stages: body.reproStages, strict: body.reproStrict } };
    if (named !== undefined) {
      if (typeof pipelineName !== "string" || body.pipelineYaml !== "" || body.pipelinePath !== "")
        throw new StagefarmError(
          "invalid_argument",
          '"pipelineName" is a string and comes without "pipelineYaml" and "pipelinePath"',
        );
      return { ...(await namedSubmission(deps.namedPipelines, pipelineName, params)), ...repro };
    }
    if (body.pipelineYaml.trim() === "")
      throw new StagefarmError("invalid_argument", "pipelineYaml is required");
    return {
      yaml: body.pipelineYaml,
      path: body.pipelinePath === "" ? "pipeline.yaml" : body.pipelinePath,
      params,
      ...repro,
    };
  };

  const routes: Route[] = [
    {
      method: "GET",
      re: new RegExp(`^${API}/runs$`),
      handler: async (_req, res, url) => {
        const statuses = parseRunStatuses(url.searchParams.get("status"));
        const pipeline = url.searchParams.get("pipeline") ?? "";
        const size = Math.min(intParam(url, "pageSize", 50) || 50, 500);
        const start = intParam(url, "pageToken", 0);
        const all = (await tracker.summaries()).filter(
          (r) =>
            (statuses.size === 0 || statuses.has(r.status)) && (pipeline === "" || r.pipeline === pipeline),
        );
        const page = all.slice(start, start + size);
        sendMessage(
          res,
          200,
          ListRunsResponseSchema,
          create(ListRunsResponseSchema, {
            runs: page,
            nextPageToken: start + size < all.length ? String(start + size) : "",
          }),
        );
      },
    },
    {
      method: "POST",
      re: new RegExp(`^${API}/runs$`),
      handler: async (req, res) => {
        if (!deps.accepting()) throw new StagefarmError("unavailable", "draining: not accepting runs");
        const id = await submit(await submission(await readJsonBody(req)));
        const { run } = await tracker.run(id);
        sendMessage(
          res,
          202,
          SubmitRunResponseSchema,
          create(SubmitRunResponseSchema, { run: { ...run, stages: [] } }),
        );
      },
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}$`),
      handler: async (_req, res, _url, [id = ""]) => {
        const { run } = await tracker.run(id);
        sendMessage(res, 200, GetRunResponseSchema, create(GetRunResponseSchema, { run }));
      },
    },
    { method: "GET", re: new RegExp(`^${API}/runs/${RUN}/events$`), handler: runEvents },
    {
      method: "POST",
      re: new RegExp(`^${API}/runs/${RUN}/cancel$`),
      handler: async (req, res, _url, [id = ""]) => {
        await coordinator.cancel(id);
        const { run } = await tracker.run(id);
        sendMessage(res, 200, CancelRunResponseSchema, create(CancelRunResponseSchema, { run }));
      },
    },
    {
      method: "POST",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/retry$`),
      handler: withRun(async (req, res, _url, id, stage) => {
        await coordinator.retry(id, stage);
        tracker.invalidate(id);
        const { run } = await tracker.run(id);
        sendMessage(res, 200, RetryStageResponseSchema, create(RetryStageResponseSchema, { run }));
      }),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/key$`),
      handler: withRun(async (_req, res, _url, id, stage) =>
        sendJson(res, 200, keyMaterialOf(await coordinator.getRun(id), stage)),
      ),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/log$`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveStoredLog(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/log/search$`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveLogSearch(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/log/times$`),
      handler: withRun(async (_req, res, url, id, stage) =>
        serveLogTimes(logDeps, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/runs/${RUN}/stages/${SEG}/log/events$`),
      handler: withRun(async (req, res, url, id, stage) =>
        serveLiveLog(logDeps, req, res, await coordinator.getRun(id), stage, url),
      ),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/agents$`),
      handler: (_req, res) => sendJson(res, 200, agentsMessage()),
    },
    {
      method: "POST",
      re: new RegExp(`^${API}/agents/${SEG}/drain$`),
      handler: (req, res, _url, [raw = ""]) => {
        const id = segment(raw, "agent id");
        const a = coordinator.drain(id) ? coordinator.agents.get(id) : undefined;
        if (a === undefined) throw new StagefarmError("not_found", `no agent ${quoted(id)} has connected`);
        sendMessage(
          res,
          200,
          DrainAgentResponseSchema,
          create(DrainAgentResponseSchema, { agent: agentMessage(a) }),
        );
      },
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/pipelines$`),
      handler: async (_req, res) => sendJson(res, 200, await pipelineList.get()),
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/cache$`),
      handler: async (_req, res) => sendJson(res, 200, await cache.get()),
    },
    { method: "GET", re: new RegExp(`^${API}/events$`), handler: globalEvents },
    {
      method: "POST",
      re: new RegExp(`^${API}/session$`),
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
      re: new RegExp(`^${API}/session$`),
      handler: (req, res) => {
        res.setHeader("set-cookie", sessionCookie("", deps.session?.secure === true, 0));
        sendJson(res, 200, {});
      },
    },
    {
      method: "GET",
      re: new RegExp(`^${API}/whoami$`),
      handler: (req, res) => {
        const who = deps.whoami?.(req) ?? { name: "anyone", role: "admin" };
        sendJson(res, 200, { name: who.name, role: who.role });
      },
    },
  ];

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    let allowed = false;
    for (const r of routes) {
      const m = r.re.exec(path);
      if (m === null) continue;
      allowed = true;
      if (r.method === method) return r.handler(req, res, url, m.slice(1));
    }
    throw allowed
      ? new StagefarmError(
          "invalid_argument",
          `method ${excerpt(req.method ?? "?", 20)} not allowed on ${quoted(path)}`,
        )
      : new StagefarmError("not_found", `no route ${excerpt(req.method ?? "?", 20)} ${quoted(path)}`);
  }

  return {
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
      if (!path.startsWith(`${API}/`)) return false;
      try {
        await route(req, res, url);
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        const status = httpStatusFor(e.code);
        if (status >= 500) log.error({ err: e.message, code: e.code, path }, "dashboard request failed");
        if (!res.headersSent) sendJson(res, status, { error: e.message, code: e.code });
        else res.end();
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
