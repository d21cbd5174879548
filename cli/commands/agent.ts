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
import {
  AgentService,
  busBinhostTransport,
  labelsWithTools,
  defaultRunners,
  FarmBinhostClient,
  StageExecutor,
  createAgentMetrics,
  diskFreeBytes,
  meteredStore,
  startAgentHttpServer,
  type AgentHttpHandle,
  type AgentMetrics,
} from "../../agent/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { quoted } from "../../shared/util/excerpt.js";
import { redactUrl } from "../../shared/util/redact-url.js";
import { STAGEFARM_VERSION } from "../../shared/version.js";
import type { CliContext } from "../context.js";
import { addNatsOptions, addStoreOptions, agentConfig, type FarmFlags } from "../distributed-config.js";
import { outageTolerantStore, StoreOutage } from "../../shared/store/index.js";
import { exitStatusForSignal, onShutdown, shutdownDeadline } from "../signals.js";
import { UNPACKED_SIZE_HELP } from "../unpacked-size.js";
import { parseHostPort } from "./up.js";

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
    .option("--nats <url>", "NATS server (env STAGEFARM_NATS_URL; default nats://127.0.0.1:4222)")
    .option("--s3 <url>", "artifact store, http://ACCESS:SECRET@HOST:PORT/BUCKET (env STAGEFARM_S3_URL)")
    .option(
      "--prefix <name>",
      "farm name prefix of NATS subjects and streams (env STAGEFARM_PREFIX; default sf)",
    )
    .option("--id <id>", "agent id (env STAGEFARM_AGENT_ID; default the hostname)")
    .option("--labels <a,b>", "labels this host offers, e.g. x86_64,chroot,catalyst (env STAGEFARM_LABELS)")
    .option("--slots <n>", "stages to run at once (env STAGEFARM_SLOTS; default 1)")
    .option("--work-dir <dir>", "where stage workspaces are made (env STAGEFARM_WORK_DIR)")
    .option(
      "--binhost-url <url>",
      "the coordinator's HTTP address for the farm binhost, e.g. http://farm:9464 (env STAGEFARM_BINHOST_URL)",
    )
    .option(
      "--drain-timeout <duration>",
      "on SIGTERM, wait this long before handing stages back (default 10m)",
    )
    .option("--max-unpacked-size <size>", UNPACKED_SIZE_HELP)
    .option(
      "--heartbeat <duration>",
      "how often to tell the coordinator which stages run here; keep it well under its --lease-ttl (env STAGEFARM_HEARTBEAT; default 5s)",
    )
    .option(
      "--missing-tools <mode>",
      "a label whose host tools are missing (agent/prerequisites.ts): drop (default) the label, refuse to start, or warn and keep it (env STAGEFARM_MISSING_TOOLS)",
    )
    .option(
      "--http <host:port>",
      "serve /metrics, /healthz and /readyz on this address (env STAGEFARM_AGENT_HTTP; default: none)",
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
        },
      ) => {
        // The root program owns `--work-dir` (commander hands it to the root even after `agent`),
        // so the flag reaches us through the local config, which already prefers it to the env.
        const workDir = opts.workDir ?? ctx.config().workDir;
        const cfg = agentConfig({ ...opts, workDir }, process.env, workDir);
        const httpAddr = opts.http ?? process.env["STAGEFARM_AGENT_HTTP"];
        const listenOn = httpAddr === undefined ? undefined : parseHostPort(httpAddr);
        const binhostBase = binhostUrl(opts.binhostUrl, process.env);
        const logger = ctx.logger("info").child({ agent: cfg.id });
        // The tools the labels promise (agent/prerequisites.ts): by default a label lacking one is dropped.
        const tools = await labelsWithTools(
          cfg.labels,
          opts.missingTools ?? process.env["STAGEFARM_MISSING_TOOLS"] ?? "drop",
        );
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
