/**
 * `stagefarm up`: the embedded farm as a long-lived process. HTTP on loopback: `/healthz`,
 * `/readyz`, `/metrics`, the binhosts (`/binhost/<name>/…`, also the sync-uri its emerge
 * stages get) and `POST /api/v1/runs {"pipeline": FILE, "params": {…}}`.
 * First SIGINT/SIGTERM drains (no new runs, running ones finish), the second cancels them.
 */
import type { Command } from "commander";
import { createMetrics, newRunId, RunRegistry, startHttpServer } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { loadPipeline } from "../../shared/pipeline/index.js";
import { positiveInt } from "../config.js";
import type { CliContext } from "../context.js";
import { EmbeddedFarm } from "../embedded.js";
import { exitStatusForSignal, onShutdown } from "../signals.js";

export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535)
    throw new StagefarmError(
      "invalid_argument",
      `--http must be HOST:PORT (e.g. 127.0.0.1:9464), got "${text}"`,
    );
  return { host: m[1] ?? (m[2] === "" || m[2] === undefined ? "127.0.0.1" : m[2]), port };
}

export function registerUp(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .description("run the embedded farm as a service with /healthz, /metrics and a JSON API")
    .option("--http <host:port>", "HTTP listen address (loopback by default)", "127.0.0.1:9464")
    .option("-j, --jobs <n>", "stages to run at once", positiveInt("--jobs"), 2)
    .action(async (opts: { http: string; jobs: number }) => {
      const { host, port } = parseHostPort(opts.http);
      const cfg = ctx.config();
      const logger = ctx.logger(cfg.logLevel === "warn" ? "info" : cfg.logLevel);
      const metrics = await createMetrics();
      await using farm = await EmbeddedFarm.open(cfg, logger, { metrics, slots: opts.jobs });
      const runs = new RunRegistry();
      const abort = new AbortController();
      const active = new Set<Promise<unknown>>();
      let accepting = true;
      const http = await startHttpServer({
        host,
        port,
        metrics,
        runs,
        logger,
        accepting: () => accepting,
        binhost: { store: farm.store },
        submit: async ({ pipeline, params }) => {
          const spec = await loadPipeline(pipeline);
          const id = newRunId();
          runs.add(id, spec.name, params);
          const p = farm
            .run(spec, { params, signal: abort.signal, onEvent: runs.onEvent, runId: id })
            .then((r) => logger.info({ run: id, outcome: r.outcome, counts: r.counts }, "run finished"))
            .catch((err: unknown) => {
              const rec = runs.get(id);
              if (rec !== undefined) rec.status = "failed";
              logger.error({ run: id, err: StagefarmError.from(err).message }, "run failed to start");
            })
            .finally(() => active.delete(p));
          active.add(p);
          return id;
        },
      });
      farm.binhost.serveAt(http.url);
      logger.info({ url: http.url, store: farm.store.describe }, "stagefarm up: listening");
      ctx.stdout.write(`stagefarm up: listening on ${http.url} (store ${farm.store.describe})\n`);
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const shutdown = onShutdown(
        (sig) => {
          accepting = false;
          logger.info(
            { signal: sig, running: active.size },
            "draining: waiting for running runs (again to cancel them)",
          );
          stop();
        },
        (sig) => {
          logger.warn({ signal: sig }, "cancelling running runs");
          abort.abort(new Error(`received ${sig}`));
        },
      );
      try {
        await stopped;
        while (active.size > 0) await Promise.allSettled([...active]);
      } finally {
        shutdown.dispose();
        await http.close();
      }
      if (shutdown.received !== undefined) ctx.setExitCode(exitStatusForSignal(shutdown.received));
    });
}
