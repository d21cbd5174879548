/**
 * The agent's HTTP server (`stagefarm agent --http HOST:PORT`): `GET /metrics` (Prometheus
 * text format), `GET /healthz` (the process is up), `GET /readyz` (503 while draining: it takes
 * no new work). Nothing else; loopback unless told otherwise.
 */
import { createServer, type ServerResponse } from "node:http";
import { closeHttp, listenHttp } from "../shared/util/http-listen.js";
import { StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";

export interface AgentHttpDeps {
  host: string;
  port: number;
  metrics: { exposition(): Promise<{ contentType: string; body: string }> };
  /** False while draining. */
  accepting: () => boolean;
  logger: Logger;
}

export interface AgentHttpHandle {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = "text/plain"): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

export async function startAgentHttpServer(deps: AgentHttpDeps): Promise<AgentHttpHandle> {
  const log = deps.logger.child({ component: "http" });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "GET") return send(res, 405, "method not allowed\n");
    if (path === "/healthz") return send(res, 200, "ok\n");
    if (path === "/readyz")
      return deps.accepting() ? send(res, 200, "ready\n") : send(res, 503, "draining\n");
    if (path !== "/metrics") return send(res, 404, `no route ${path}\n`);
    deps.metrics.exposition().then(
      (m) => send(res, 200, m.body, m.contentType),
      (err: unknown) => {
        log.error({ err: StagefarmError.from(err) }, "collecting metrics failed");
        send(res, 500, "collecting metrics failed\n");
      },
    );
  });
  const addr = await listenHttp(server, deps.host, deps.port, "the agent HTTP server");
  let closed: Promise<void> | undefined;
  return {
    url: `http://${addr.hostPort}`,
    close: () => (closed ??= closeHttp(server)),
  };
}
