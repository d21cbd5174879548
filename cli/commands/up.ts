/**
 * `stagefarm up`: the embedded farm as a long-lived process. HTTP on loopback: `/healthz`,
 * `/readyz`, `/metrics`, the binhosts (`/binhost/<name>/…`, also the sync-uri its emerge
 * stages get), `POST /api/v1/runs {"pipelineYaml": TEXT, "pipelinePath": "name.yaml",
 * "params": {…}}` (the pipeline's text: the server reads no file a client names; it is parsed
 * off the event loop within bounds, see coordinator/submission/) or, with `--pipelines DIR`,
 * `{"pipelineName": "demo", "params": {…}}` (one of DIR's pipelines), and the web dashboard
 * (`/ui/`, `/api/dashboard/`).
 * gRPC on --grpc (default 127.0.0.1:7420, the remote commands' default; if that default is
 * taken, up serves HTTP only and says so): the coordinator's API service
 * (coordinator/api/stagefarm-api.ts) over this farm, so `stagefarm submit|runs|run show|logs|
 * cancel|retry|agents` work against `up` as against a coordinator.
 * Runs are kept across restarts: the coordinator's run documents and dispatch records live in a
 * file KV next to the store (`<store>/state/up-kv.jsonl`, one `up` per store, locked); on start,
 * runs its last process left running are closed as interrupted and all but the newest
 * --keep-runs are removed (coordinator/service/run-history.ts).
 * First SIGINT/SIGTERM drains (no new runs, running ones finish), the second cancels them.
 * Off loopback it needs --tls-cert/--tls-key and --auth (tokens and roles), or --insecure.
 */
import { join } from "node:path";
import type { Command } from "commander";
import type { ReproSubmission } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import type { CliContext } from "../context.js";
import type { ServeSecurityFlags } from "../distributed-config.js";
import type { EmbeddedFarm } from "../embedded.js";
import { positiveInt } from "../options.js";
import type { loadServeSecurity } from "../serve-security.js";
import { addServeSecurityOptions } from "../serve-security-options.js";
import { exitStatusForSignal, onHangup, onShutdown } from "../signals.js";
import { keepFailedWorkspacesOption } from "./keep-failed-option.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [agent, coordinator, auth, config, embedded, security, ports, fsLock, version] = await Promise.all([
    import("../../agent/index.js"),
    import("../../coordinator/index.js"),
    import("../../coordinator/auth/index.js"),
    import("../distributed-config.js"),
    import("../embedded.js"),
    import("../serve-security.js"),
    import("../../shared/ports/index.js"),
    import("../../shared/store/index.js"),
    import("../../shared/version.js"),
  ]);
  const { ScheduleService } = await import("../../coordinator/schedules/index.js");
  return {
    ...agent,
    ...coordinator,
    ...auth,
    ...config,
    ...embedded,
    ...security,
    ...ports,
    ...fsLock,
    ...version,
    ScheduleService,
  };
}

export function parseHostPort(text: string, flag = "--http"): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535)
    throw new StagefarmError(
      "invalid_argument",
      `${flag} must be HOST:PORT (e.g. 127.0.0.1:9464), got "${text}"`,
    );
  return { host: m[1] ?? (m[2] === "" || m[2] === undefined ? "127.0.0.1" : m[2]), port };
}

export function registerUp(program: Command, ctx: CliContext): void {
  addServeSecurityOptions(program.command("up"), { clientCa: false })
    .description(
      "run the embedded farm as a service: web dashboard, /healthz, /metrics, JSON API, gRPC API; keeps its runs",
    )
    .option("--http <host:port>", "HTTP listen address (loopback by default)", "127.0.0.1:9464")
    .option("-j, --jobs <n>", "stages to run at once", positiveInt("--jobs"), 2)
    .option(
      "--pipelines <dir>",
      'offer the pipelines in DIR (NAME.yaml or NAME/pipeline.yaml) by name: POST /api/v1/runs {"pipelineName": NAME}',
    )
    .option(
      "--grpc <host:port|off>",
      `gRPC API for the remote commands (submit, runs, logs, …); default ${DEFAULT_GRPC}, skipped with a warning if taken`,
    )
    .option(
      "--keep-runs <n>",
      "runs kept across restarts (the newest; older ones are removed at start and as runs finish)",
      positiveInt("--keep-runs"),
      DEFAULT_KEEP_RUNS,
    )
    .option(
      "--schedules <file>",
      "run pipelines of --pipelines DIR on cron schedules and notify on run end (docs/schedules.md); SIGHUP or a change of the file reloads it",
    )
    .addOption(keepFailedWorkspacesOption())
    .action(async (opts: UpFlags) => {
      const m = await load();
      const { createAgentMetrics, diskFreeBytes, createMetrics, DEFAULT_SUBMISSION_LIMITS, NamedPipelines } =
        m;
      const { newRunId, pruneRuns, RunRegistry, settleRunHistory, startHttpServer, httpAuth } = m;
      const { serveSecurity, EmbeddedFarm, grpcHostPort, loadServeSecurity, FileKvStore, STAGEFARM_VERSION } =
        m;
      const { host, port } = parseHostPort(opts.http);
      const grpcAddr = opts.grpc === "off" ? undefined : (opts.grpc ?? DEFAULT_GRPC);
      if (grpcAddr !== undefined) parseHostPort(grpcAddr, "--grpc");
      if (opts.schedules !== undefined && opts.pipelines === undefined)
        throw new StagefarmError(
          "invalid_argument",
          "--schedules needs --pipelines DIR (schedules name its pipelines)",
        );
      const security = await loadServeSecurity(serveSecurity(opts, ctx.env), [
        { what: "HTTP", flag: "--http", host, port, http: true },
        ...(grpcAddr === undefined ? [] : [{ what: "gRPC", flag: "--grpc", ...grpcHostPort(grpcAddr) }]),
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
      // The runs of earlier processes on this store: one `up` at a time keeps them.
      await using _lock = await lockState(m.lockFile, cfg.storeDir);
      const kv = await FileKvStore.open(join(cfg.storeDir, "state", "up-kv.jsonl"));
      const history = await settleRunHistory(kv, { keep: opts.keepRuns, logger }).catch(
        async (err: unknown) => {
          await kv.close();
          throw err;
        },
      );
      if (history.interrupted.length > 0)
        logger.warn({ runs: history.interrupted }, "runs interrupted by the last stop, closed as failed");
      await using farm = await EmbeddedFarm.open(cfg, logger, {
        metrics,
        agentMetrics,
        slots: opts.jobs,
        kv,
        keepFailedWorkspaces: opts.keepFailedWorkspaces === true,
      }).catch(async (err: unknown) => {
        await kv.close();
        throw err;
      });
      const runs = new RunRegistry(farm.coordinator);
      const abort = new AbortController();
      const active = new Set<Promise<unknown>>();
      let accepting = true;
      const start = (
        spec: PipelineSpec,
        params: Record<string, string>,
        id = newRunId(),
        repro?: ReproSubmission,
      ) => {
        const run = farm.run(spec, {
          params,
          signal: abort.signal,
          runId: id,
          ...(repro === undefined ? {} : { repro }),
        });
        const p = run
          .then((r) => logger.info({ run: id, outcome: r.outcome, counts: r.counts }, "run finished"))
          .catch((err: unknown) =>
            logger.error({ run: id, err: StagefarmError.from(err) }, "run failed to start"),
          )
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
      // Both HTTP APIs submit pipeline text, parsed off the event loop; runs go through the farm
      // so its agent offers their labels; the answer waits until the coordinator took the run.
      const submitText = async (req: {
        yaml: string;
        path: string;
        params: Record<string, string>;
        repro?: ReproSubmission;
      }) => {
        const spec = await farm.coordinator.parseSubmission(req.yaml, req.path);
        const { id, run } = start(spec, req.params, undefined, req.repro);
        return accepted(id, run);
      };
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
        submit: submitText,
        dashboard: {
          coordinator: farm.coordinator,
          store: farm.store,
          bus: farm.bus,
          subjects: farm.subjects,
          submit: submitText,
        },
      });
      farm.binhost.serveAt(http.url);
      const schedules =
        opts.schedules === undefined || namedPipelines === undefined
          ? undefined
          : await m.ScheduleService.open({
              file: opts.schedules,
              runs: farm.coordinator,
              checkPipeline: (name) => namedPipelines.read(name),
              launch: async ({ runId, pipeline, params }) => {
                const p = await namedPipelines.read(pipeline);
                return {
                  done: start(await farm.coordinator.parseSubmission(p.yaml, p.path), params, runId).run,
                };
              },
              newRunId,
              logger,
              registry: metrics.registry,
              dashboardUrl: http.url,
            }).catch(async (err: unknown) => {
              await http.close();
              throw err;
            });
      // SIGHUP re-reads the schedule file; without one it keeps its default (the process ends).
      const hangup = schedules === undefined ? undefined : onHangup(() => void schedules.reload());
      // Finished runs beyond --keep-runs go as runs finish, not only at the next start.
      const offPrune = farm.coordinator.onEvent((e) => {
        if (e.t === "run-finished")
          pruneRuns(kv, opts.keepRuns, logger).catch((err: unknown) =>
            logger.error({ err: StagefarmError.from(err) }, "removing old runs failed"),
          );
      });
      const grpc =
        grpcAddr === undefined
          ? undefined
          : await serveGrpc(farm, grpcAddr, opts.grpc !== undefined, {
              security,
              logger,
              accepting: () => accepting,
            });
      if (grpc !== undefined) ctx.stdout.write(`stagefarm up: gRPC API on ${grpc.address}\n`);
      logger.info(
        { url: http.url, grpc: grpc?.address, store: farm.store.describe },
        "stagefarm up: listening",
      );
      ctx.stdout.write(`stagefarm up: listening on ${http.url} (store ${farm.store.describe})\n`);
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const shutdown = onShutdown(
        (sig) => {
          accepting = false;
          schedules?.stopScheduling();
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
                logger.error({ run: id, err: StagefarmError.from(err) }, "cancelling the run failed"),
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
        offPrune();
        shutdown.dispose();
        hangup?.dispose();
        await schedules?.close();
        await grpc?.close();
        await http.close();
      }
      if (shutdown.received !== undefined) ctx.setExitCode(exitStatusForSignal(shutdown.received));
    });
}

const DEFAULT_GRPC = "127.0.0.1:7420";
const DEFAULT_KEEP_RUNS = 500;

type UpFlags = {
  http: string;
  jobs: number;
  pipelines?: string;
  schedules?: string;
  keepFailedWorkspaces?: boolean;
  grpc?: string;
  keepRuns: number;
} & ServeSecurityFlags;

/** The lock of the store's `up` state; another `up` on the store holds it (waited for briefly). */
async function lockState(
  lockFile: (path: string, what: string, signal: AbortSignal) => Promise<AsyncDisposable>,
  storeDir: string,
): Promise<AsyncDisposable> {
  try {
    return await lockFile(
      join(storeDir, "locks", "up-state.lock"),
      "locking the up state",
      AbortSignal.timeout(10_000),
    );
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code !== "cancelled" && e.code !== "timeout") throw e;
    throw new StagefarmError("unavailable", `another stagefarm up is running on the store ${storeDir}`, {
      cause: err,
    });
  }
}

/**
 * The coordinator's gRPC API service over the embedded farm, with up's drain and its security
 * (TLS and tokens as on its HTTP side). The default address, when taken, is skipped with a
 * warning (HTTP still serves); an address the user chose must bind.
 */
async function serveGrpc(
  farm: EmbeddedFarm,
  address: string,
  explicit: boolean,
  o: { security: Awaited<ReturnType<typeof loadServeSecurity>>; logger: Logger; accepting: () => boolean },
): Promise<{ address: string; close(): Promise<void> } | undefined> {
  const { createGrpcServer, listen } = await import("../../shared/grpc/index.js");
  const { ServerCredentials } = await import("@grpc/grpc-js");
  const { StagefarmService } = await import("../../proto/gen/stagefarm/v1/service_pb.js");
  const { loadStagefarmApi, rpcAuthorizer } = await load();
  const createStagefarmApi = await loadStagefarmApi();
  const api = createGrpcServer(
    StagefarmService,
    createStagefarmApi({
      coordinator: farm.coordinator,
      store: farm.store,
      bus: farm.bus,
      subjects: farm.subjects,
      binhost: farm.binhost.service,
      accepting: o.accepting,
      noDrain:
        "stagefarm up runs every stage on its local agents: they are not drained (SIGTERM drains up itself)",
    }),
    { logger: o.logger, authorizer: rpcAuthorizer(o.security.auth) },
  );
  try {
    return await listen(api, address, o.security.tls ?? ServerCredentials.createInsecure());
  } catch (err: unknown) {
    api.raw.forceShutdown();
    if (explicit) throw err;
    o.logger.warn(
      { grpc: address, err: StagefarmError.from(err) },
      "gRPC API not served: its default address is taken (choose one with --grpc)",
    );
    return undefined;
  }
}
