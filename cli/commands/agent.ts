/**
 * `stagefarm agent`: a build host of a distributed farm. Pulls stages from the pools its labels
 * satisfy, runs them, uploads outputs to S3, reports to the coordinator. The first SIGTERM or
 * SIGINT drains (running stages finish or are handed back after --drain-timeout); a second
 * forces (running stages are handed back at once). Exit status 128+signo.
 * With --binhost-url (where this host reaches the coordinator's HTTP server), emerge stages
 * fetch from and publish to the farm binhost; without it they build without the binhost.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { AgentHttpHandle, AgentMetrics, AgentService } from "../../agent/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { quoted } from "../../shared/util/excerpt.js";
import { redactUrl } from "../../shared/util/redact-url.js";
import { STAGEFARM_VERSION } from "../../shared/version.js";
import type { CliContext } from "../context.js";
import type { FarmFlags } from "../distributed-config.js";
import { addNatsOptions, addStoreOptions, UNPACKED_SIZE_HELP } from "../farm-options.js";
import { envOption } from "../options.js";
import { keepFailedWorkspacesOption } from "./keep-failed-option.js";
import { exitStatusForSignal, onShutdown, shutdownDeadline } from "../signals.js";
import { parseHostPort } from "./up.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [agent, store, config] = await Promise.all([
    import("../../agent/index.js"),
    import("../../shared/store/index.js"),
    import("../distributed-config.js"),
  ]);
  return { ...agent, ...store, ...config };
}

const CLOSE_DEADLINE_MS = 20_000;

/** --binhost-url / STAGEFARM_BINHOST_URL: an http(s) URL without query, or absent. */
export function binhostUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const raw = flag ?? env["STAGEFARM_BINHOST_URL"];
  if (raw === undefined || raw === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "")
    throw new StagefarmError(
      "invalid_argument",
      `--binhost-url must be the coordinator's HTTP address as this host reaches it, e.g. http://farm:9464 (got ${quoted(redactUrl(raw))})`,
    );
  // The URL goes into the binrepos.conf of the roots the stages build (and so into their
  // tarballs): it must not carry credentials.
  if (url.username !== "" || url.password !== "")
    throw new StagefarmError(
      "invalid_argument",
      `--binhost-url must not carry credentials (they would be written into every built root's binrepos.conf): stages fetch from the binhost anonymously, so a farm whose stages use it leaves binhost_auth out of the coordinator's auth file`,
    );
  return url.href.replace(/\/+$/, "");
}

export function registerAgent(program: Command, ctx: CliContext): void {
  addStoreOptions(
    addNatsOptions(
      program.command("agent").description("run a build agent of a distributed farm (NATS + S3)"),
    ),
  )
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
    .addOption(envOption("--id <id>", "agent id (default the hostname)", "STAGEFARM_AGENT_ID"))
    .addOption(
      envOption("--labels <a,b>", "labels this host offers, e.g. x86_64,chroot,catalyst", "STAGEFARM_LABELS"),
    )
    .addOption(envOption("--slots <n>", "stages to run at once (default 1)", "STAGEFARM_SLOTS"))
    .option("--work-dir <dir>", "where stage workspaces are made (env STAGEFARM_WORK_DIR)")
    .addOption(keepFailedWorkspacesOption())
    .addOption(
      envOption(
        "--binhost-url <url>",
        "the coordinator's HTTP address for the farm binhost, e.g. http://farm:9464",
        "STAGEFARM_BINHOST_URL",
      ),
    )
    .addOption(
      envOption(
        "--drain-timeout <duration>",
        "on SIGTERM, wait this long before handing stages back (default 10m)",
        "STAGEFARM_DRAIN_TIMEOUT",
      ),
    )
    .addOption(envOption("--max-unpacked-size <size>", UNPACKED_SIZE_HELP, "STAGEFARM_MAX_UNPACKED_SIZE"))
    .addOption(
      envOption(
        "--heartbeat <duration>",
        "how often to tell the coordinator which stages run here; keep it well under its --lease-ttl (default 5s)",
        "STAGEFARM_HEARTBEAT",
      ),
    )
    .addOption(
      envOption(
        "--missing-tools <mode>",
        "a label whose host tools are missing (agent/prerequisites.ts): drop (default) the label, refuse to start, or warn and keep it",
        "STAGEFARM_MISSING_TOOLS",
      ),
    )
    .addOption(
      envOption(
        "--http <host:port>",
        "serve /metrics, /healthz and /readyz on this address (default: none)",
        "STAGEFARM_AGENT_HTTP",
      ),
    )
    .addHelpText(
      "after",
      "\nEnvironment only: STAGEFARM_JOB_ACK_WAIT (redelivery of a job no agent claimed, default 30s), " +
        "STAGEFARM_S3_RETRIES (retries of one S3 request, 0 to 20, default 6).",
    )
    .action(
      async (
        opts: FarmFlags & {
          id?: string;
          labels?: string;
          slots?: string;
          workDir?: string;
          drainTimeout?: string;
          binhostUrl?: string;
          http?: string;
          maxUnpackedSize?: string;
          heartbeat?: string;
          missingTools?: string;
          keepFailedWorkspaces?: boolean;
        },
      ) => {
        // The root program owns `--work-dir` (commander hands it to the root even after `agent`),
        // so the flag reaches us through the local config, which already prefers it to the env.
        const m = await load();
        const { AgentService, busBinhostTransport, labelsWithTools, defaultRunners, FarmBinhostClient } = m;
        const { StageExecutor, createAgentMetrics, diskFreeBytes, meteredStore, startAgentHttpServer } = m;
        const { outageTolerantStore, StoreOutage, agentConfig } = m;
        const workDir = opts.workDir ?? ctx.config().workDir;
        const cfg = agentConfig({ ...opts, workDir }, ctx.env, workDir);
        const httpAddr = opts.http;
        const listenOn = httpAddr === undefined ? undefined : parseHostPort(httpAddr);
        const binhostBase = binhostUrl(opts.binhostUrl, ctx.env);
        const logger = ctx.logger("info").child({ agent: cfg.id });
        // The tools the labels promise (agent/prerequisites.ts): by default a label lacking one is dropped.
        const tools = await labelsWithTools(cfg.labels, opts.missingTools ?? "drop");
        for (const line of tools.lines) ctx.stderr.write(`stagefarm agent ${cfg.id}: ${line}\n`);
        const labels = tools.labels;
        const abort = new AbortController();
        let agent: AgentService | undefined;
        const shutdown = onShutdown(
          (sig) => {
            logger.info({ signal: sig }, "draining (again to hand running stages back now)");
            abort.abort();
            void agent?.drain(cfg.drainTimeoutMs);
          },
          (sig) => {
            logger.warn({ signal: sig }, "handing running stages back");
            agent?.releaseAll();
          },
        );
        try {
          const { AgentConnection } = await import("../farm-connection.js");
          await using farm = await AgentConnection.open(cfg, cfg.id, logger, abort.signal);
          const binhost =
            binhostBase === undefined
              ? undefined
              : new FarmBinhostClient({
                  transport: busBinhostTransport(farm.bus, farm.subjects),
                  baseUrl: binhostBase,
                  agentId: cfg.id,
                });
          const diskFree = (): Promise<number> => diskFreeBytes(cfg.workDir);
          let metrics: AgentMetrics | undefined;
          if (listenOn !== undefined)
            metrics = await createAgentMetrics({
              agentId: cfg.id,
              version: STAGEFARM_VERSION,
              slots: cfg.slots,
              diskFreeBytes: diskFree,
            });
          // A store outage delays stages within the budget instead of failing them.
          const outage = new StoreOutage({
            budgetMs: cfg.storeOutageBudgetMs,
            logger: logger.child({ component: "store" }),
          });
          const store = outageTolerantStore(farm.store, outage);
          const executor = new StageExecutor({
            store: metrics === undefined ? store : meteredStore(store, metrics),
            outage,
            workRoot: join(cfg.workDir, cfg.id),
            logger,
            keepFailedWorkspace: opts.keepFailedWorkspaces === true,
            unpackLimits: { maxUnpackedBytes: cfg.maxUnpackedBytes },
            ...(metrics === undefined ? {} : { metrics }),
            ...(binhost === undefined ? {} : { runners: defaultRunners({ binhost }) }),
          });
          // A previous agent on this work directory may have been killed: its stages' processes
          // and workspaces go before this one takes work.
          await executor.sweepStaleWork();
          agent = new AgentService({
            agentId: cfg.id,
            hostname: hostname(),
            labels,
            slots: cfg.slots,
            queue: farm.queue,
            events: farm.events,
            bus: farm.bus,
            subjects: farm.subjects,
            executor,
            logger,
            heartbeatMs: cfg.heartbeatMs,
            claimTimeoutMs: 5000,
            version: STAGEFARM_VERSION,
            diskFreeBytes: diskFree,
            ...(metrics === undefined ? {} : { metrics }),
          });
          const service = agent;
          let http: AgentHttpHandle | undefined;
          if (metrics !== undefined && listenOn !== undefined)
            http = await startAgentHttpServer({
              ...listenOn,
              metrics,
              logger,
              accepting: () => !service.isDraining,
            });
          agent.start();
          ctx.stdout.write(
            `stagefarm agent ${cfg.id}: labels ${labels.join(",")}, ${cfg.slots} slots, store ${farm.store.describe}${http === undefined ? "" : `, HTTP on ${http.url}`}\n`,
          );
          await new Promise<void>((resolve) =>
            abort.signal.addEventListener("abort", () => resolve(), { once: true }),
          );
          await agent.drain(cfg.drainTimeoutMs);
          // Nothing runs any more; closing the connections is bounded (NATS or S3 may be gone).
          shutdownDeadline(shutdown.received ?? "SIGTERM", CLOSE_DEADLINE_MS, () =>
            logger.warn(
              { deadlineMs: CLOSE_DEADLINE_MS },
              "closing connections did not finish in time; exiting",
            ),
          );
          await agent.close();
          await http?.close();
        } catch (err: unknown) {
          if (!abort.signal.aborted) throw StagefarmError.from(err);
        } finally {
          shutdown.dispose();
        }
        if (shutdown.received !== undefined) ctx.setExitCode(exitStatusForSignal(shutdown.received));
      },
    );
}
