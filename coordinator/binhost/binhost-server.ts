/**
 * An HTTP server that serves only the binhosts (./http.ts): what `stagefarm run` starts, on
 * loopback and a free port, the first time a stage asks for a binrepos.conf, so that the
 * emerge stages of a one-shot embedded run can fetch from the farm binhost too (`stagefarm up`
 * and the coordinator serve it on their own HTTP server instead).
 */
import { createServer } from "node:http";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { serveBinhost, type BinhostHttpOptions } from "./http.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

export interface BinhostServerHandle {
  url: string;
  close(): Promise<void>;
}

export async function startBinhostServer(
  opts: BinhostHttpOptions & { host?: string; port?: number; logger: Logger },
): Promise<BinhostServerHandle> {
  const log = opts.logger.child({ component: "binhost-http" });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const answer = path.startsWith("/binhost/")
      ? serveBinhost(req, res, path, opts)
      : Promise.resolve(void res.writeHead(404, { "content-type": "text/plain" }).end("not found\n"));
    answer.catch((err: unknown) => {
      const e = StagefarmError.from(err);
      log.error({ err: e, path }, "binhost request failed");
      if (!res.headersSent) res.writeHead(e.code === "not_found" ? 404 : 503).end();
      else res.destroy();
    });
  });
  const addr = await listenHttp(server, opts.host ?? "127.0.0.1", opts.port ?? 0, "the binhost server");
  let closed: Promise<void> | undefined;
  return {
    url: `http://${addr.hostPort}`,
    close: () => (closed ??= closeHttp(server)),
  };
}
