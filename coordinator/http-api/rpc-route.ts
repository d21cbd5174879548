/**
 * The HTTP JSON transport of StagefarmService: a route names an RPC, and the adapter serves it
 * with the same handler the gRPC server calls. The request is the RPC's input message read from
 * proto3 JSON (`fromJson`; unknown fields refused): the body of a POST, with the path's
 * parameters and the route's query parameters as its fields. The caller's role is checked
 * against the RPC's row in coordinator/auth/rpc-roles.ts, the table the gRPC authorizer reads.
 * The answer is the output message as proto3 JSON (`toJson`); a failure is `{error, code}` with
 * the status of its code (./http-error.ts). So a use case is written once (../api/), and both
 * transports give the same validation, errors and role checks.
 */
import type { IncomingMessage } from "node:http";
import {
  create,
  fromJson,
  toJson,
  type DescMessage,
  type DescMethodUnary,
  type JsonObject,
  type JsonValue,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Principal } from "../../shared/grpc/index.js";
import type { HandlerContext, ServiceImpl } from "../../shared/grpc/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import { RPC_ROLES, type StagefarmRpc } from "../auth/index.js";
import type { Role } from "../auth/index.js";
import { readJsonBody, segment, sendJson } from "../dashboard/http-util.js";
import type { Handler, HttpMethod, Route } from "./router.js";

type Methods = (typeof StagefarmService)["method"];

/** The RPCs with one request and one answer: those HTTP serves as JSON. */
export type UnaryRpc = {
  [K in StagefarmRpc]: Methods[K] extends DescMethodUnary ? K : never;
}[StagefarmRpc];

/** Who the request's credentials name, once they may do what needs `need` (else an AuthError). */
export type HttpAuthorize = (req: IncomingMessage, need: Role, what: string) => Principal;

export interface RpcRoute {
  method: HttpMethod;
  path: RegExp;
  rpc: UnaryRpc;
  /** The request fields the path's captures are (their JSON names), in order. */
  params?: readonly string[];
  /** Request fields from the query string (default: none). */
  query?: (q: URLSearchParams) => JsonObject;
  /** Checks the body before decoding (e.g. a retired field with a better message). */
  check?: (body: JsonObject) => void;
  /** The success status (default 200). */
  status?: number;
  /** Extra top-level fields of the answer, from the answer (a compatibility field). */
  extra?: (answer: JsonObject) => JsonObject;
}

export interface RpcTransport {
  /** The service's handlers (every RPC a route names must be there). */
  impl: Partial<Pick<ServiceImpl<typeof StagefarmService>, UnaryRpc>>;
  authorize: HttpAuthorize;
  /** The largest request body (default: readJsonBody's). */
  maxBodyBytes?: number;
}

type AnyUnary = (
  req: MessageShape<DescMessage>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<DescMessage>>;

function jsonObject(v: unknown, what: string): JsonObject {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new StagefarmError("invalid_argument", `${what} must be a JSON object`);
  return v as JsonObject;
}

/** The handler of one route: decode, authorize, call, encode. */
export function rpcHandler(t: RpcTransport, route: RpcRoute): Handler {
  const desc: DescMethodUnary = StagefarmService.method[route.rpc];
  const handler = t.impl[route.rpc] as unknown as AnyUnary | undefined;
  if (handler === undefined)
    throw new StagefarmError("internal", `a route names ${desc.name}, which the implementation lacks`);
  const need = RPC_ROLES[route.rpc];
  return async (req, res, url, captures) => {
    const principal = t.authorize(req, need, desc.name);
    const body: JsonObject =
      req.method === "POST" ? jsonObject(await readJsonBody(req, t.maxBodyBytes), "the request body") : {};
    route.check?.(body);
    const json: JsonObject = { ...body, ...route.query?.(url.searchParams) };
    (route.params ?? []).forEach((name, i) => {
      json[name] = segment(captures[i] ?? "", name);
    });
    let input: MessageShape<DescMessage>;
    try {
      input = fromJson(desc.input, json);
    } catch (err: unknown) {
      throw new StagefarmError(
        "invalid_argument",
        `not a ${desc.input.name}: ${excerpt(err instanceof Error ? err.message : String(err))}`,
        { cause: err },
      );
    }
    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableEnded) abort.abort(new StagefarmError("cancelled", `the client left ${desc.name}`));
    };
    res.once("close", onClose);
    try {
      const ctx: HandlerContext = {
        signal: abort.signal,
        metadata: new Metadata(),
        peer: `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`,
        method: desc,
        principal,
      };
      const out = toJson(desc.output, create(desc.output, await handler(input, ctx)));
      const answer = jsonObject(out, desc.output.name);
      sendJson(res, route.status ?? 200, { ...answer, ...route.extra?.(answer) } satisfies JsonValue);
    } finally {
      res.off("close", onClose);
    }
  };
}

/** The routes of a table of RPC routes, for ./router.ts. */
export function rpcRoutes(t: RpcTransport, routes: readonly RpcRoute[]): Route[] {
  return routes.map((r) => ({ method: r.method, path: r.path, handler: rpcHandler(t, r) }));
}
