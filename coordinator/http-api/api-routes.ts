/**
 * The HTTP JSON API's RPC routes: each names the StagefarmService RPC it is (./rpc-route.ts).
 *
 *   GET  /api/dashboard/runs?status=&pipeline=&pageSize=&pageToken=   ListRuns (summaries)
 *   POST /api/dashboard/runs                         SubmitRun → 202
 *   GET  /api/dashboard/runs/ID                      GetRun
 *   POST /api/dashboard/runs/ID/cancel               CancelRun
 *   POST /api/dashboard/runs/ID/stages/S/retry       RetryStage
 *   GET  /api/dashboard/agents                       ListAgents
 *   POST /api/dashboard/agents/A/drain               DrainAgent
 *   POST /api/dashboard/agents/A/undrain             UndrainAgent
 *   GET  /api/dashboard/cache/entries?pipeline=&stage=&pageSize=&pageToken=   ListCache
 *   POST /api/v1/runs                                SubmitRun → 202, with the run's `id` on top
 *
 * `status=` names run statuses, comma-separated, `RUN_STATUS_` optional (`succeeded,failed`).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { StagefarmError } from "../../shared/errors.js";
import { parseRunStatuses } from "../dashboard/run-view.js";
import type { RpcRoute } from "./rpc-route.js";

export const DASHBOARD_API = "/api/dashboard";

const RUN = "([A-Za-z0-9-]+)";
const SEG = "([^/]+)";
const at = (path: string): RegExp => new RegExp(`^${DASHBOARD_API}${path}$`);

/** The named query parameters that are present, as request fields of the same JSON name. */
function fields(q: URLSearchParams, names: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const n of names) {
    const v = q.get(n);
    if (v !== null && v !== "") out[n] = v;
  }
  return out;
}

/** A submission naming a server-side file: refused with what to send instead. */
function noServerPath(body: JsonObject): void {
  if ("pipeline" in body)
    throw new StagefarmError(
      "invalid_argument",
      '"pipeline" (a server-side file) is no longer accepted: send the pipeline\'s text as "pipelineYaml" (and a display name as "pipelinePath")',
    );
}

export const DASHBOARD_RPC_ROUTES: readonly RpcRoute[] = [
  {
    method: "GET",
    path: at("/runs"),
    rpc: "listRuns",
    query: (q) => ({
      ...fields(q, ["pipeline", "pageSize", "pageToken"]),
      statuses: [...parseRunStatuses(q.get("status"))],
    }),
  },
  { method: "POST", path: at("/runs"), rpc: "submitRun", check: noServerPath, status: 202 },
  { method: "GET", path: at(`/runs/${RUN}`), rpc: "getRun", params: ["runId"] },
  { method: "POST", path: at(`/runs/${RUN}/cancel`), rpc: "cancelRun", params: ["runId"] },
  {
    method: "POST",
    path: at(`/runs/${RUN}/stages/${SEG}/retry`),
    rpc: "retryStage",
    params: ["runId", "stage"],
  },
  { method: "GET", path: at("/agents"), rpc: "listAgents" },
  { method: "POST", path: at(`/agents/${SEG}/drain`), rpc: "drainAgent", params: ["agentId"] },
  { method: "POST", path: at(`/agents/${SEG}/undrain`), rpc: "undrainAgent", params: ["agentId"] },
  {
    method: "GET",
    path: at("/cache/entries"),
    rpc: "listCache",
    query: (q) => fields(q, ["pipeline", "stage", "pageSize", "pageToken"]),
  },
];

/** `stagefarm up`'s submission (the rest of /api/v1/ is ../run-registry.ts's run records). */
export const V1_RPC_ROUTES: readonly RpcRoute[] = [
  {
    method: "POST",
    path: /^\/api\/v1\/runs$/,
    rpc: "submitRun",
    check: noServerPath,
    status: 202,
    extra: (answer) => {
      const run = answer["run"];
      const id = typeof run === "object" && run !== null && !Array.isArray(run) ? run["id"] : undefined;
      return { id: typeof id === "string" ? id : "" };
    },
  },
];
