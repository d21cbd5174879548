/**
 * Connects a process to a distributed farm: NATS (KV state, job queue, event log, message bus)
 * and the S3 artifact store. Shared by `stagefarm coordinator` and `stagefarm agent`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "nats";
import { NatsBus, type MessageBus } from "../shared/bus/index.js";
import { parseS3Url } from "../shared/config/s3-url.js";
import type { Logger } from "../shared/log.js";
import { connectNats, NatsEventLog, NatsJobQueue, NatsKvStore } from "../shared/nats/index.js";
import type { EventLog, JobQueue, KvStore } from "../shared/ports/index.js";
import { subjects, type Subjects } from "../shared/protocol/subjects.js";
import { openS3Store } from "../shared/store/index.js";
import type { ArtifactStore } from "../shared/store/types.js";

export interface FarmConnectionConfig {
  natsUrl: string;
  s3Url: string;
  /** Prefix of every NATS subject, stream and bucket (one NATS server can host several farms). */
  prefix: string;
  /** Redelivery of an unacked job (the agent did not even claim it). */
  jobAckWaitMs: number;
}

const CLOSE_DRAIN_MS = 5_000;

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
    const nc = await connectNats(cfg.natsUrl, { name, logger, ...(signal === undefined ? {} : { signal }) });
    try {
      const kv = await NatsKvStore.open(nc, `${cfg.prefix}_state`);
      const queue = await NatsJobQueue.open(nc, { prefix: cfg.prefix, ackWaitMs: cfg.jobAckWaitMs });
      // An event taken but not acked (its reader died) comes back after this: a restarted
      // coordinator sees in-flight results within seconds (applying one twice is harmless).
      const events = await NatsEventLog.open(nc, { prefix: cfg.prefix, ackWaitMs: 5_000 });
      const store = await openS3Store(s3, { logger });
      return new FarmConnection(nc, kv, queue, events, new NatsBus(nc, logger), store, subjects(cfg.prefix));
    } catch (err: unknown) {
      await nc.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.allSettled([
        this.bus.close(),
        this.queue.close(),
        this.events.close(),
        this.kv.close(),
        this.store.close(),
      ]);
      // drain() waits for the server: bounded, so a shutdown while NATS is down still ends.
      const drained = this.nc.drain().then(
        () => true,
        () => false,
      );
      if (!(await Promise.race([drained, sleep(CLOSE_DRAIN_MS).then(() => false)]))) await this.nc.close();
    })();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
