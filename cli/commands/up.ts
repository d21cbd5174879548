/**
 * `stagefarm up`: the embedded farm as a long-lived process. HTTP on loopback: `/healthz`,
 * `/readyz`, `/metrics`, the binhosts (`/binhost/<name>/…`, also the sync-uri its emerge
 * stages get), `POST /api/v1/runs {"pipelineYaml": TEXT, "pipelinePath": "name.yaml",
 * "params": {…}}` (the pipeline's text: the server reads no file a client names; it is parsed
 * off the event loop within bounds, see coordinator/submission/) or, with `--pipelines DIR`,
 * `{"pipelineName": "demo", "params": {…}}` (one of DIR's pipelines), and the web dashboard
 * (`/ui/`, `/api/dashboard/`).
 * First SIGINT/SIGTERM drains (no new runs, running ones finish), the second cancels them.
 * Off loopback it needs --tls-cert/--tls-key and --auth (tokens and roles), or --insecure.
 */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import { STAGEFARM_VERSION } from "../../shared/version.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import type { CliContext } from "../context.js";
import type { ServeSecurityFlags } from "../distributed-config.js";
import { positiveInt } from "../options.js";
import { addServeSecurityOptions } from "../serve-security-options.js";
import { exitStatusForSignal, onShutdown } from "../signals.js";
import { keepFailedWorkspacesOption } from "./keep-failed-option.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [agent, coordinator, auth, config, embedded, security] = await Promise.all([
    import("../../agent/index.js"),
    import("../../coordinator/index.js"),
    import("../../coordinator/auth/index.js"),
    import("../distributed-config.js"),
    import("../embedded.js"),
    import("../serve-security.js"),
  ]);
  return { ...agent, ...coordinator, ...auth, ...config, ...embedded, ...security };
}

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

type UpFlags = {
  http: string;
  jobs: number;
  pipelines?: string;
  keepFailedWorkspaces?: boolean;
} & ServeSecurityFlags;

export function registerUp(program: Command, ctx: CliContext): void {
  addServeSecurityOptions(program.command("up"), { clientCa: false })
    .description("run the embedded farm as a service with a web dashboard, /healthz, /metrics and a JSON API")
    .option("--http <host:port>", "HTTP listen address (loopback by default)", "127.0.0.1:9464")
    .option("-j, --jobs <n>", "stages to run at once", positiveInt("--jobs"), 2)
    .option(
      "--pipelines <dir>",
      'offer the pipelines in DIR (NAME.yaml or NAME/pipeline.yaml) by name: POST /api/v1/runs {"pipelineName": NAME}',
    )
    .addOption(keepFailedWorkspacesOption())
    .action(async (opts: UpFlags) => {
      const m = await load();
      const { createAgentMetrics, diskFreeBytes, createMetrics, DEFAULT_SUBMISSION_LIMITS } = m;
      const { NamedPipelines, newRunId, RunRegistry, startHttpServer, httpAuth } = m;
      const { serveSecurity, EmbeddedFarm, loadServeSecurity } = m;
      const { host, port } = parseHostPort(opts.http);
      const security = await loadServeSecurity(serveSecurity(opts, ctx.env), [
        { what: "HTTP", flag: "--http", host, port, http: true },
      ]);
      const namedPipelines =
        opts.pipelines === undefined
          ? undefined
          : await NamedPipelines.open(opts.pipelines, DEFAULT_SUBMISSION_LIMITS.maxBytes);
      const cfg = ctx.config();
      const logger = ctx.logger(cfg.logLevel === "warn" ? "info" : cfg.logLevel);
      for (const risk of security.risks) logger.warn({ risk }, "serving unprotected (--insecure)");
      const metrics = await createMetrics();
      // The local agent's metrics (claims, stages, transfers, free disk) beside the coordinator's.
      const agentMetrics = await createAgentMetrics({
        agentId: "local",
        version: STAGEFARM_VERSION,
        slots: opts.jobs,
        diskFreeBytes: () => diskFreeBytes(cfg.workDir),
        registry: metrics.registry,
      });
      await using farm = await EmbeddedFarm.open(cfg, logger, {
        metrics,
        agentMetrics,
        slots: opts.jobs,
        keepFailedWorkspaces: opts.keepFailedWorkspaces === true,
      });
      const runs = new RunRegistry();
      // Every run's events, including those of runs started again by a retry from the dashboard.
      const offRuns = farm.coordinator.onEvent(runs.onEvent);
      const abort = new AbortController();
      const active = new Set<Promise<unknown>>();
      let accepting = true;
      const start = (spec: PipelineSpec, params: Record<string, string>) => {
        const id = newRunId();
        runs.add(id, spec.name, params);
        const run = farm.run(spec, { params, signal: abort.signal, runId: id });
        const p = run
          .then((r) => logger.info({ run: id, outcome: r.outcome, counts: r.counts }, "run finished"))
          .catch((err: unknown) => {
            const rec = runs.get(id);
            if (rec !== undefined) rec.status = "failed";
            logger.error({ run: id, err: StagefarmError.from(err).message }, "run failed to start");
          })
          .finally(() => active.delete(p));
        active.add(p);
        return { id, run };
      };
      /** Resolves once the coordinator has taken the run (its first event), or rejects with why not. */
      const accepted = (id: string, run: Promise<unknown>): Promise<string> =>
        new Promise((resolve, reject) => {
          const off = farm.coordinator.onEvent((e) => {
            if (e.runId !== id) return;
            off();
            resolve(id);
          });
          run.then(
            () => {
              off();
              resolve(id);
            },
            (err: unknown) => {
              off();
              reject(StagefarmError.from(err));
            },
          );
        });
      const http = await startHttpServer({
        host,
        port,
        auth: httpAuth(security.auth),
        hostNames: security.httpHostNames,
        ...(security.httpTls === undefined ? {} : { tls: security.httpTls }),
        metrics,
        runs,
        logger,
        accepting: () => accepting,
        binhost: { store: farm.store },
        releases: farm.store,
        ...(namedPipelines === undefined ? {} : { namedPipelines }),
        // Both APIs submit pipeline text, parsed off the event loop; runs go through the farm so
        // its agent offers their labels.
        submit: async ({ yaml, path, params }) =>
          start(await farm.coordinator.parseSubmission(yaml, path), params).id,
        dashboard: {
          coordinator: farm.coordinator,
          store: farm.store,
          bus: farm.bus,
          subjects: farm.subjects,
          submit: async ({ yaml, path, params }) => {
            const { id, run } = start(await farm.coordinator.parseSubmission(yaml, path), params);
            return accepted(id, run);
          },
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
            { signal: sig, running: running().length },
            "draining: waiting for running runs (again to cancel them)",
          );
          stop();
        },
        (sig) => {
          logger.warn({ signal: sig }, "cancelling running runs");
          abort.abort(new Error(`received ${sig}`));
          for (const id of farm.coordinator.activeRunIds())
            farm.coordinator
              .cancel(id)
              .catch((err: unknown) =>
                logger.error({ run: id, err: StagefarmError.from(err).message }, "cancelling the run failed"),
              );
        },
      );
      // Runs started here, and runs the coordinator runs without a `start` of ours (a stage
      // retried from the dashboard runs its run again).
      const running = (): Promise<unknown>[] => [
        ...active,
        ...farm.coordinator.activeRunIds().map((id) => farm.coordinator.settled(id)),
      ];
      try {
        await stopped;
        for (let r = running(); r.length > 0; r = running()) await Promise.allSettled(r);
      } finally {
        offRuns();
        shutdown.dispose();
        await http.close();
      }
      if (shutdown.received !== undefined) ctx.setExitCode(exitStatusForSignal(shutdown.received));
    });
}
