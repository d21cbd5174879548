/**
 * A local HTTP file server for tests: node:http on 127.0.0.1 and a random port, serving
 * scripted responses per path and recording every request it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

/** One scripted answer: a status and a body. */
export interface Reply {
  status: number;
  body?: string | Uint8Array;
  /** Announce the whole body but send only this many bytes, then cut the connection. */
  cutAfter?: number;
}

/** Answers for a path: one reply for every request, or a list used in order (the last repeats). */
export type Route = Reply | Reply[];

export class TestHttpServer implements AsyncDisposable {
  /** Paths requested so far, in order. */
  readonly requests: string[] = [];
  readonly #server: Server;
  readonly #routes = new Map<string, Route>();
  readonly #served = new Map<string, number>();
  #port = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<TestHttpServer> {
    const server = createServer();
    const s = new TestHttpServer(server);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => s.#handle(req, res));
    s.#port = (await listenHttp(server, "127.0.0.1", 0, "the test HTTP server")).port;
    return s;
  }

  /** Sets the answers for `path` (e.g. "/file.tar"). */
  route(path: string, route: Route): void {
    this.#routes.set(path, route);
    this.#served.set(path, 0);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.#port}${path}`;
  }

  /** How many requests `path` received. */
  count(path: string): number {
    return this.requests.filter((p) => p === path).length;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "/";
    this.requests.push(path);
    const route = this.#routes.get(path);
    const n = this.#served.get(path) ?? 0;
    this.#served.set(path, n + 1);
    const reply: Reply | undefined = Array.isArray(route) ? (route[n] ?? route[route.length - 1]) : route;
    if (!reply) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such path\n");
      return;
    }
    const body = Buffer.from(reply.body ?? "");
    res.writeHead(reply.status, {
      "content-type": "application/octet-stream",
      "content-length": body.length,
    });
    if (reply.cutAfter === undefined) {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, reply.cutAfter), () => res.destroy());
  }

  async close(): Promise<void> {
    await closeHttp(this.#server, 0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
