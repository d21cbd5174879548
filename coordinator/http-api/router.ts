/**
 * Routing of the coordinator's HTTP JSON API: a table of method, path pattern and handler. A
 * path that matches with another method is a 405 naming the methods it has (`Allow`); a path
 * that matches nothing is left to the caller (false). HEAD is served as GET.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../dashboard/http-util.js";
import { excerpt, quoted } from "../../shared/util/excerpt.js";

export type HttpMethod = "GET" | "POST" | "DELETE";

/** A route's handler; `params` are the path pattern's captures, still URL-encoded. */
export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: string[],
) => Promise<void> | void;

export interface Route {
  method: HttpMethod;
  path: RegExp;
  handler: Handler;
}

/** Serves the request from `routes`; false when no route has its path. */
export async function dispatch(
  routes: readonly Route[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
  const allowed = new Set<string>();
  for (const r of routes) {
    const m = r.path.exec(url.pathname);
    if (m === null) continue;
    if (r.method === method) {
      await r.handler(req, res, url, m.slice(1));
      return true;
    }
    allowed.add(r.method);
    if (r.method === "GET") allowed.add("HEAD");
  }
  if (allowed.size === 0) return false;
  const allow = [...allowed].join(", ");
  res.setHeader("allow", allow);
  sendJson(res, 405, {
    error: `method ${excerpt(req.method ?? "?", 20)} not allowed on ${quoted(url.pathname)} (allowed: ${allow})`,
    code: "method_not_allowed",
  });
  return true;
}
