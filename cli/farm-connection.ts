/**
 * Connects a process to a distributed farm: NATS (KV state, job queue, event log, message bus)
 * and the S3 artifact store. `FarmConnection` is the coordinator's (it creates the streams, the
 * pools' consumers and the KV bucket), `AgentConnection` an agent's: no KV, nothing created
 * (it waits for the coordinator's streams), subjects and inbox bound to its id, so that it
 * works under the NATS permissions of deploy/nats/.
 *
 * NATS credentials come from a credentials file (`--nats-creds`, refused when other users may
 * read it) or the URL; TLS from `--nats-ca` and, for mutual TLS, `--nats-cert`/`--nats-key`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "nats";
import { NatsBus, type MessageBus } from "../shared/bus/index.js";
import { parseS3Url } from "../shared/config/s3-url.js";
import { StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import {
  checkNatsTlsFiles,
  connectNats,
  kvBucketName,
  NatsEventLog,
  NatsJobQueue,
  NatsKvStore,
  readNatsCredentials,
  type NatsTlsFiles,
} from "../shared/nats/index.js";
import type { EventLog, JobQueue, KvStore } from "../shared/ports/index.js";
import { subjects, type Subjects } from "../shared/protocol/subjects.js";
import { openS3Store, type ArtifactStore } from "../shared/store/index.js";

export interface FarmConnectionConfig {
  natsUrl: string;
  s3Url: string;
  /** Prefix of every NATS subject, stream and bucket (one NATS server can host several farms). */
  prefix: string;
  /** Redelivery of an unacked job (the agent did not even claim it). */
  jobAckWaitMs: number;
  /** NATS credentials file: an nkey seed or USER:PASSWORD (shared/nats/credentials.ts). */
  natsCredsFile?: string | undefined;
  natsCaFile?: string | undefined;
  natsCertFile?: string | undefined;
  natsKeyFile?: string | undefined;
  /** Retries of one S3 request after a transient failure (default 6). */
  s3Retries?: number;
  /** Replicas of the streams and the KV bucket the coordinator creates (3 on a NATS cluster). */
  natsReplicas?: number | undefined;
}

const CLOSE_DRAIN_MS = 5_000;
/** An event taken but not acked (its reader died) comes back after this. */
const EVENT_ACK_WAIT_MS = 5_000;

/** Connects to NATS with the configured credentials and TLS (their files are checked first). */
async function connectFarmNats(
  cfg: FarmConnectionConfig,
  logger: Logger,
  name: string,
  inboxPrefix: string,
  signal: AbortSignal | undefined,
): Promise<NatsConnection> {
  const tls: NatsTlsFiles = {
    ...(cfg.natsCaFile === undefined ? {} : { caFile: cfg.natsCaFile }),
    ...(cfg.natsCertFile === undefined ? {} : { certFile: cfg.natsCertFile }),
    ...(cfg.natsKeyFile === undefined ? {} : { keyFile: cfg.natsKeyFile }),
  };
  await checkNatsTlsFiles(tls);
  const auth = cfg.natsCredsFile === undefined ? undefined : await readNatsCredentials(cfg.natsCredsFile);
  return connectNats(cfg.natsUrl, {
    name,
    logger,
    inboxPrefix,
    tls,
    ...(auth === undefined ? {} : { auth }),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** Closes the ports, then drains the connection (bounded: NATS may be gone). */
async function closeFarm(nc: NatsConnection, parts: Array<{ close(): Promise<void> }>): Promise<void> {
  await Promise.allSettled(parts.map((p) => p.close()));
  const drained = nc.drain().then(
    () => true,
    () => false,
  );
  // The deadline must not keep the process alive once the drain is done.
  const deadline = sleep(CLOSE_DRAIN_MS, false, { ref: false });
  if (!(await Promise.race([drained, deadline]))) await nc.close();
}

/** The coordinator's connection. */
export class FarmConnection implements AsyncDisposable {
  private closed: Promise<void> | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly kv: KvStore,
    readonly queue: JobQueue,
    readonly events: EventLog,
    readonly bus: MessageBus,
    readonly store: ArtifactStore,
    readonly subjects: Subjects,
  ) {}

  static async open(
    cfg: FarmConnectionConfig,
    logger: Logger,
    name: string,
    signal?: AbortSignal,
  ): Promise<FarmConnection> {
    const s3 = parseS3Url(cfg.s3Url);
    const subj = subjects(cfg.prefix);
    const nc = await connectFarmNats(cfg, logger, name, subj.inbox(), signal);
    try {
      const replicas = cfg.natsReplicas ?? 1;
      const kv = await NatsKvStore.open(nc, kvBucketName(cfg.prefix), { replicas });
      const queue = await NatsJobQueue.open(nc, {
        prefix: cfg.prefix,
        ackWaitMs: cfg.jobAckWaitMs,
        replicas,
      });
      // A restarted coordinator sees in-flight results within seconds (applying one twice is harmless).
      const events = await NatsEventLog.open(nc, {
        prefix: cfg.prefix,
        ackWaitMs: EVENT_ACK_WAIT_MS,
        replicas,
      });
      const store = await openS3Store(s3, {
        logger,
        ...(cfg.s3Retries === undefined ? {} : { retries: cfg.s3Retries }),
      });
      return new FarmConnection(nc, kv, queue, events, new NatsBus(nc, logger), store, subj);
    } catch (err: unknown) {
      await nc.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed ??= closeFarm(this.nc, [this.bus, this.queue, this.events, this.kv, this.store]);
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** An agent's connection: what the agent service and its executor use. */
export class AgentConnection implements AsyncDisposable {
  private closed: Promise<void> | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly queue: JobQueue,
    readonly events: EventLog,
    readonly bus: MessageBus,
    readonly store: ArtifactStore,
    readonly subjects: Subjects,
  ) {}

  static async open(
    cfg: FarmConnectionConfig,
    agentId: string,
    logger: Logger,
    signal?: AbortSignal,
  ): Promise<AgentConnection> {
    const s3 = parseS3Url(cfg.s3Url);
    const subj = subjects(cfg.prefix, agentId);
    const nc = await connectFarmNats(cfg, logger, `stagefarm-agent-${agentId}`, subj.inbox(agentId), signal);
    try {
      const opts = { prefix: cfg.prefix, manage: false, logger, ...(signal === undefined ? {} : { signal }) };
      const queue = await NatsJobQueue.open(nc, { ...opts, ackWaitMs: cfg.jobAckWaitMs });
      const events = await NatsEventLog.open(nc, { ...opts, ackWaitMs: EVENT_ACK_WAIT_MS });
      const store = await openS3Store(s3, {
        logger,
        ...(cfg.s3Retries === undefined ? {} : { retries: cfg.s3Retries }),
      });
      return new AgentConnection(nc, queue, events, new NatsBus(nc, logger), store, subj);
    } catch (err: unknown) {
      await nc.close();
      const e = StagefarmError.from(err);
      if (e.details["natsCode"] !== "PERMISSIONS_VIOLATION") throw e;
      throw new StagefarmError(
        "invalid_argument",
        `agent ${agentId}: ${e.message}: the NATS user of --nats-creds may not use agent ${agentId}'s subjects; ` +
          `give this agent its own credentials, or the --id its user block was made for (stagefarm nats user agent ${agentId})`,
        { cause: err, details: e.details },
      );
    }
  }

  async close(): Promise<void> {
    this.closed ??= closeFarm(this.nc, [this.bus, this.queue, this.events, this.store]);
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
