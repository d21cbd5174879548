/**
 * `stagefarm coordinator`: the distributed farm's coordinator. gRPC API on --listen, HTTP
 * (`/healthz`, `/readyz`, `/metrics`, the web dashboard under `/ui/`) on --http, state and
 * dispatch over NATS, artifacts in S3.
 * Runs found unfinished in NATS KV at start are resumed. SIGTERM/SIGINT stops serving and
 * leaves runs to the next start (they are not cancelled); the exit status is 128+signo.
 * Security (../serve-security.ts): TLS on both listeners with --tls-cert/--tls-key, client
 * certificates for gRPC with --tls-client-ca, tokens and roles from --auth; a listener off
 * loopback without TLS or --auth is refused unless --insecure.
 */
import type { Command } from "commander";
import type { ScheduleService } from "../../coordinator/schedules/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import type { FarmFlags, ServeSecurityFlags } from "../distributed-config.js";
import { addNatsOptions, addStoreOptions } from "../farm-options.js";
import type { FarmConnection as FarmConnectionT } from "../farm-connection.js";
import { envOption, envSwitch, switchOn } from "../options.js";
import { addServeSecurityOptions } from "../serve-security-options.js";
import { exitStatusForSignal, onHangup, onShutdown, shutdownDeadline } from "../signals.js";
import { parseHostPort } from "./up.js";

const SHUTDOWN_DEADLINE_MS = 20_000;

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [coordinator, store, auth, config, security] = await Promise.all([
    import("../../coordinator/index.js"),
    import("../../shared/store/index.js"),
    import("../../coordinator/auth/index.js"),
    import("../distributed-config.js"),
    import("../serve-security.js"),
  ]);
  const { ScheduleService, submitLauncher } = await import("../../coordinator/schedules/index.js");
  return { ...coordinator, ...store, ...auth, ...config, ...security, ScheduleService, submitLauncher };
}

type CoordinatorFlags = FarmFlags &
  ServeSecurityFlags & {
    listen?: string;
    http?: string;
    leaseTtl?: string;
    natsReplicas?: string;
    binhostRedirect?: boolean;
    schedules?: string;
    pipelines?: string;
  };

export function registerCoordinator(program: Command, ctx: CliContext): void {
  // `stagefarm certs` makes what --tls-* and --auth read (here until cli/main.ts registers it).
  addServeSecurityOptions(addStoreOptions(addNatsOptions(program.command("coordinator"))), { clientCa: true })
    .description("run the coordinator of a distributed farm (gRPC API, NATS, S3)")
    .addOption(envOption("--nats <url>", "NATS server (default nats://127.0.0.1:4222)", "STAGEFARM_NATS_URL"))
    .addOption(
      envOption("--s3 <url>", "artifact store, http://ACCESS:SECRET@HOST:PORT/BUCKET", "STAGEFARM_S3_URL"),
    )
    .addOption(
      envOption(
        "--prefix <name>",
        "farm name prefix of NATS subjects and streams (default sf)",
        "STAGEFARM_PREFIX",
      ),
    )
    .addOption(
      envOption("--listen <host:port>", "gRPC listen address (default 127.0.0.1:7420)", "STAGEFARM_LISTEN"),
    )
    .addOption(
      envOption(
        "--http <host:port>",
        "HTTP listen address for /healthz, /readyz, /metrics and the dashboard /ui/ (default 127.0.0.1:9464)",
        "STAGEFARM_HTTP",
      ),
    )
    .addOption(
      envSwitch(
        "--binhost-redirect",
        "answer binhost package downloads with a redirect to a presigned S3 URL",
        "STAGEFARM_BINHOST_REDIRECT",
      ),
    )
    .addOption(
      envOption(
        "--nats-replicas <n>",
        "replicas of the streams and KV bucket it creates: 1, or 3 on a NATS cluster (default 1)",
        "STAGEFARM_NATS_REPLICAS",
      ),
    )
    .addHelpText(
      "after",
      "\nEnvironment only: STAGEFARM_JOB_ACK_WAIT (redelivery of a job no agent claimed, default 30s), " +
        "STAGEFARM_S3_RETRIES (retries of one S3 request, 0 to 20, default 6).",
    )
    .addOption(
      envOption(
        "--lease-ttl <duration>",
        "how long an agent may go without heartbeat before its stage is dispatched again (default 30s)",
        "STAGEFARM_LEASE_TTL",
      ),
    )
    .option(
      "--schedules <file>",
      "run pipelines of --pipelines DIR on cron schedules and notify on run end (docs/schedules.md); SIGHUP or a change of the file reloads it",
    )
    .option("--pipelines <dir>", "the pipelines schedules name (NAME.yaml or NAME/pipeline.yaml in DIR)")
    .action(async (opts: CoordinatorFlags) => {
      const m = await load();
      const {
        BinhostService,
        Coordinator,
        createMetrics,
        loadStagefarmApi,
        ReleaseService,
        startHttpServer,
        StoreProbe,
      } = m;
      const { outageTolerantStore, StoreOutage, authReloader, httpAuth, rpcAuthorizer } = m;
      const { coordinatorConfig, serveSecurity, grpcHostPort, loadServeSecurity } = m;
      const cfg = coordinatorConfig(opts, ctx.env);
      const httpAddr = parseHostPort(cfg.http);
      const securityConfig = serveSecurity(opts, ctx.env);
      const security = await loadServeSecurity(securityConfig, [
        { what: "gRPC", flag: "--listen", ...grpcHostPort(cfg.listen) },
        { what: "HTTP", flag: "--http", ...httpAddr, http: true },
      ]);
      const binhostRedirect = switchOn(opts.binhostRedirect, ctx.env, "STAGEFARM_BINHOST_REDIRECT");
      const logger = ctx.logger("info").child({ process: "coordinator" });
      for (const risk of security.risks) logger.warn({ risk }, "serving unprotected (--insecure)");
      // SIGHUP (systemctl reload) re-reads the auth file: a token removed from it is refused at once.
      const authFile = securityConfig.authFile;
      const reloadAuth = authFile === undefined ? undefined : authReloader(security.auth, authFile, logger);
      if (opts.schedules !== undefined && opts.pipelines === undefined)
        throw new StagefarmError(
          "invalid_argument",
          "--schedules needs --pipelines DIR (schedules name its pipelines)",
        );
      const namedPipelines =
        opts.pipelines === undefined
          ? undefined
          : await m.NamedPipelines.open(opts.pipelines, m.DEFAULT_SUBMISSION_LIMITS.maxBytes);
      let schedules: ScheduleService | undefined;
      const hangup = onHangup(() => {
        if (reloadAuth === undefined && opts.schedules === undefined)
          logger.warn("SIGHUP ignored: no --auth or --schedules file to re-read");
        if (reloadAuth !== undefined) void reloadAuth.reload();
        if (schedules !== undefined) void schedules.reload();
      });
      const { createGrpcServer, listen } = await import("../../shared/grpc/index.js");
      const { ServerCredentials } = await import("@grpc/grpc-js");
      const { StagefarmService } = await import("../../proto/gen/stagefarm/v1/service_pb.js");
      const createStagefarmApi = await loadStagefarmApi();
      const stop = new AbortController();
      const shutdown = onShutdown(
        (sig) => {
          logger.info({ signal: sig }, "shutting down (runs continue after the next start)");
          stop.abort();
          shutdownDeadline(sig, SHUTDOWN_DEADLINE_MS, () =>
            logger.warn({ deadlineMs: SHUTDOWN_DEADLINE_MS }, "shutdown did not finish in time; exiting"),
          );
        },
        (sig) => process.exit(exitStatusForSignal(sig)),
      );
      try {
        const metrics = await createMetrics();
        const { FarmConnection } = await import("../farm-connection.js");
        await using farm: FarmConnectionT = await FarmConnection.open(
          cfg,
          logger,
          "stagefarm-coordinator",
          stop.signal,
        );
        // The binhosts' single writer: agents publish through it over NATS.
        const binhost = new BinhostService({ store: farm.store, logger });
        // A store outage holds new work and delays manifests within the budget; the API and the
        // dashboard read the store directly (a reader is told at once that it is away).
        const outage = new StoreOutage({
          budgetMs: cfg.storeOutageBudgetMs,
          logger: logger.child({ component: "store" }),
        });
        metrics.observeStore(outage);
        await using probe = new StoreProbe({ store: farm.store, outage, logger });
        probe.start();
        await using coordinator = new Coordinator({
          kv: farm.kv,
          queue: farm.queue,
          events: farm.events,
          bus: farm.bus,
          store: outageTolerantStore(farm.store, outage),
          storeGate: outage,
          subjects: farm.subjects,
          logger,
          metrics,
          leaseMs: cfg.leaseTtlMs,
          leaseCheckMs: Math.max(100, Math.min(1000, Math.floor(cfg.leaseTtlMs / 4))),
          agentOfflineMs: cfg.leaseTtlMs,
          maxDispatchPerRun: 1000,
          stageJobs: 1,
          binhost,
        });
        await coordinator.start();
        const api = createGrpcServer(
          StagefarmService,
          createStagefarmApi({
            coordinator,
            store: farm.store,
            bus: farm.bus,
            subjects: farm.subjects,
            binhost,
            releases: new ReleaseService({
              store: farm.store,
              getRun: (id) => coordinator.getRun(id),
              parse: (yaml, path) => coordinator.parseSubmission(yaml, path),
              logger,
            }),
          }),
          { logger, authorizer: rpcAuthorizer(security.auth) },
        );
        await using grpc = await listen(api, cfg.listen, security.tls ?? ServerCredentials.createInsecure());
        const http = await startHttpServer({
          ...httpAddr,
          auth: httpAuth(security.auth),
          hostNames: security.httpHostNames,
          ...(security.httpTls === undefined ? {} : { tls: security.httpTls }),
          metrics,
          logger,
          accepting: () => !stop.signal.aborted,
          binhost: { store: farm.store, redirect: binhostRedirect },
          releases: farm.store,
          dashboard: { coordinator, store: farm.store, bus: farm.bus, subjects: farm.subjects },
        });
        if (opts.schedules !== undefined && namedPipelines !== undefined)
          schedules = await m.ScheduleService.open({
            file: opts.schedules,
            runs: coordinator,
            checkPipeline: (name) => namedPipelines.read(name),
            launch: m.submitLauncher(coordinator, namedPipelines),
            newRunId: m.newRunId,
            logger,
            registry: metrics.registry,
            dashboardUrl: http.url,
          }).catch(async (err: unknown) => {
            await http.close();
            throw err;
          });
        try {
          logger.info(
            { grpc: grpc.address, http: http.url, store: farm.store.describe },
            "coordinator ready",
          );
          ctx.stdout.write(
            `stagefarm coordinator: gRPC on ${grpc.address}, HTTP on ${http.url}, store ${farm.store.describe}\n`,
          );
          await new Promise<void>((resolve) =>
            stop.signal.addEventListener("abort", () => resolve(), { once: true }),
          );
        } finally {
          await http.close();
          await schedules?.close();
          await binhost.close();
        }
      } finally {
        shutdown.dispose();
        hangup.dispose();
      }
      if (shutdown.received !== undefined) ctx.setExitCode(exitStatusForSignal(shutdown.received));
    });
}
