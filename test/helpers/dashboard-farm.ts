/**
 * A farm with the web dashboard, in one process: the MemoryFarm (Coordinator + agents over the
 * in-process ports, a real filesystem store) behind the coordinator's real HTTP server with the
 * dashboard mounted. `restart()` replaces the coordinator and the HTTP server (same port, same
 * KV): what a page sees when the coordinator restarts. Also: reading server-sent events from a
 * `fetch` body, for tests that check the stream itself.
 */
import { get as httpGet } from "node:http";
import type { HttpAuth } from "../../coordinator/auth/index.js";
import { createMetrics, startHttpServer } from "../../coordinator/index.js";
import { type HttpServerHandle } from "../../coordinator/testing.js";
import { createLogger, silentLogger } from "../../shared/log.js";
import { MemoryFarm, type MemoryFarmOptions } from "./memory-farm.js";

export class DashboardFarm implements AsyncDisposable {
  http: HttpServerHandle;

  private constructor(
    readonly farm: MemoryFarm,
    http: HttpServerHandle,
    readonly port: number,
    private readonly staticDir: string | undefined,
    private readonly auth: HttpAuth | undefined,
  ) {
    this.http = http;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async create(
    opts: MemoryFarmOptions & { staticDir?: string; auth?: HttpAuth } = {},
  ): Promise<DashboardFarm> {
    const farm = await MemoryFarm.create(opts);
    try {
      const http = await DashboardFarm.serve(farm, 0, opts.staticDir, opts.auth);
      const port = Number(new URL(http.url).port);
      return new DashboardFarm(farm, http, port, opts.staticDir, opts.auth);
    } catch (err: unknown) {
      await farm[Symbol.asyncDispose]();
      throw err;
    }
  }

  private static async serve(
    farm: MemoryFarm,
    port: number,
    staticDir: string | undefined,
    auth: HttpAuth | undefined,
  ): Promise<HttpServerHandle> {
    return startHttpServer({
      host: "127.0.0.1",
      port,
      ...(auth === undefined ? {} : { auth }),
      metrics: await createMetrics(),
      logger: process.env["SF_TEST_LOG"] === "1" ? createLogger({ level: "debug" }) : silentLogger(),
      accepting: () => true,
      dashboard: {
        coordinator: farm.coordinator,
        store: farm.store,
        bus: farm.bus,
        subjects: farm.subjects,
        ...(staticDir === undefined ? {} : { staticDir }),
      },
    });
  }

  /** Stops serving (open pages lose their streams) without starting again. */
  async stop(): Promise<void> {
    await this.http.close();
  }

  /** A coordinator restart: HTTP down, a fresh Coordinator over the same state, HTTP up. */
  async restart(opts: { downMs?: number } = {}): Promise<void> {
    await this.http.close();
    await this.farm.restartCoordinator();
    if (opts.downMs !== undefined) await new Promise((r) => setTimeout(r, opts.downMs));
    this.http = await DashboardFarm.serve(this.farm, this.port, this.staticDir, this.auth);
  }

  async submit(yaml: string, params: Record<string, string> = {}, path = "pipeline.yaml"): Promise<string> {
    const res = await fetch(`${this.base}/api/dashboard/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body: JSON.stringify({ pipelineYaml: yaml, pipelinePath: path, params }),
    });
    const body = (await res.json()) as { run?: { id?: string }; error?: string };
    if (res.status !== 202 || body.run?.id === undefined)
      throw new Error(`submit answered ${res.status}: ${body.error ?? JSON.stringify(body)}`);
    return body.run.id;
  }

  async json<T>(path: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`, { headers: { connection: "close" } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.http.close();
    } finally {
      await this.farm[Symbol.asyncDispose]();
    }
  }
}

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: unknown;
}

/**
 * Reads server-sent events from a URL until `until` says stop (or the stream ends). Uses
 * node:http without connection reuse: each stream is its own connection.
 */
export async function readSse(
  url: string,
  until: (e: SseEvent, all: SseEvent[]) => boolean,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  return new Promise<SseEvent[]>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      if (err === undefined) resolve(out);
      else reject(err);
    };
    const timer = setTimeout(
      () => finish(new Error(`SSE ${url}: timed out; got ${out.map((e) => e.event).join(",")}`)),
      opts.timeoutMs ?? 20_000,
    );
    const req = httpGet(url, { agent: false, headers: opts.headers ?? {} }, (res) => {
      if (res.statusCode !== 200) {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => finish(new Error(`SSE ${url}: ${res.statusCode ?? "?"} ${body}`)));
        return;
      }
      const dec = new TextDecoder();
      let buf = "";
      res.on("data", (chunk: Buffer) => {
        buf += dec.decode(chunk, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0 && !done; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message";
          let id: string | undefined;
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data === "") continue;
          const e = { event, id, data: JSON.parse(data) as unknown };
          out.push(e);
          if (until(e, out)) finish();
        }
      });
      res.on("end", () => finish());
      res.on("error", (err) => finish(err));
    });
    req.on("error", (err) => finish(err));
  });
}
