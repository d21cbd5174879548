/**
 * A distributed farm in one process over a nats-server running the shipped, permissioned
 * configuration (./nats-auth.ts) and s3rver: the coordinator on `FarmConnection` with its own
 * nkey, agents on `AgentConnection` with theirs (build-1: x86_64, build-2: catalyst,x86_64, as
 * in deploy/nats/stagefarm-users.conf), TLS trusting the test CA: the CLI's connection code
 * with the in-process Coordinator and AgentService. Disposing closes everything, also after a
 * failed assertion.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { AgentService, StageExecutor } from "../../agent/index.js";
import { AgentConnection, FarmConnection, type FarmConnectionConfig } from "../../cli/farm-connection.js";
import {
  BinhostService,
  Coordinator,
  createMetrics,
  type CoordinatorMetrics,
} from "../../coordinator/index.js";
import { createLogger, silentLogger, type Logger } from "../../shared/log.js";
import { startAuthNats, type AuthNatsHandle, type AuthNatsOptions } from "./nats-auth.js";
import { startS3rver, type S3rverHandle } from "./s3rver.js";

export const SHIPPED_AGENTS: Record<string, string[]> = {
  "build-1": ["x86_64"],
  "build-2": ["catalyst", "x86_64"],
};

export class AuthFarm implements AsyncDisposable {
  readonly agents = new Map<string, { service: AgentService; conn: AgentConnection }>();
  readonly logger: Logger =
    process.env["SF_TEST_LOG"] === "1" ? createLogger({ level: "debug" }) : silentLogger();
  private closed: Promise<void> | undefined;

  private constructor(
    /** The coordinator's log records (warn and above). */
    readonly coordinatorLog: Array<Record<string, unknown>>,
    readonly nats: AuthNatsHandle,
    readonly s3: S3rverHandle,
    readonly dir: string,
    readonly conn: FarmConnection,
    readonly coordinator: Coordinator,
    readonly metrics: CoordinatorMetrics,
    readonly binhost: BinhostService,
  ) {}

  static async start(opts: AuthNatsOptions = {}): Promise<AuthFarm> {
    const nats = await startAuthNats(opts);
    const cleanup: Array<() => Promise<void>> = [async () => await nats[Symbol.asyncDispose]()];
    try {
      const s3 = await startS3rver();
      cleanup.push(async () => await s3[Symbol.asyncDispose]());
      const dir = await mkdtemp(join(tmpdir(), "sf-auth-farm-"));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const records: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const line of chunk.toString("utf8").split("\n"))
            if (line.startsWith("{")) records.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      const logger = pino({ level: "warn", base: undefined }, sink);
      const conn = await FarmConnection.open(
        AuthFarm.config(nats, s3, "coordinator"),
        logger,
        "stagefarm-coordinator",
      );
      cleanup.push(() => conn.close());
      const metrics = await createMetrics();
      const binhost = new BinhostService({ store: conn.store, logger });
      cleanup.push(() => binhost.close());
      const coordinator = new Coordinator({
        kv: conn.kv,
        queue: conn.queue,
        events: conn.events,
        bus: conn.bus,
        store: conn.store,
        subjects: conn.subjects,
        logger,
        metrics,
        leaseMs: 10_000,
        leaseCheckMs: 500,
        agentOfflineMs: 10_000,
        maxDispatchPerRun: 10,
        stageJobs: 1,
        binhost,
      });
      await coordinator.start();
      return new AuthFarm(records, nats, s3, dir, conn, coordinator, metrics, binhost);
    } catch (err: unknown) {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      throw err;
    }
  }

  static config(nats: AuthNatsHandle, s3: S3rverHandle, user: string): FarmConnectionConfig {
    return {
      natsUrl: nats.url,
      s3Url: s3.url,
      prefix: nats.prefix,
      jobAckWaitMs: 5_000,
      natsCredsFile: nats.credsFile(user),
      natsCaFile: nats.certs.ca,
    };
  }

  /** Starts an agent service with its own user (and, unless given, the shipped labels). */
  async startAgent(id: string, labels = SHIPPED_AGENTS[id] ?? ["x86_64"]): Promise<AgentService> {
    const conn = await AgentConnection.open(AuthFarm.config(this.nats, this.s3, id), id, this.logger);
    const service = new AgentService({
      agentId: id,
      hostname: "localhost",
      labels,
      slots: 1,
      queue: conn.queue,
      events: conn.events,
      bus: conn.bus,
      subjects: conn.subjects,
      executor: new StageExecutor({
        store: conn.store,
        workRoot: join(this.dir, "work", id),
        logger: this.logger,
      }),
      logger: this.logger,
      heartbeatMs: 200,
      claimTimeoutMs: 5_000,
      version: "test",
      diskFreeBytes: () => Promise.resolve(1 << 30),
    });
    service.start();
    this.agents.set(id, { service, conn });
    return service;
  }

  /** The value of a coordinator counter (summed over its labels that match `labels`). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = await this.metrics.registry.getSingleMetric(name)?.get();
    return (m?.values ?? [])
      .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
      .reduce((sum, v) => sum + v.value, 0);
  }

  /** Permission violations nats-server logged. */
  violations(): string[] {
    return this.nats.server
      .output()
      .split("\n")
      .filter((l) => /Violation/.test(l));
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.allSettled([...this.agents.values()].map((a) => a.service.close()));
      await Promise.allSettled([...this.agents.values()].map((a) => a.conn.close()));
      await this.coordinator.close().catch(() => undefined);
      await this.binhost.close().catch(() => undefined);
      await this.conn.close().catch(() => undefined);
      await Promise.allSettled([this.s3[Symbol.asyncDispose](), this.nats[Symbol.asyncDispose]()]);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
