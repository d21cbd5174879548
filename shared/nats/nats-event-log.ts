/**
 * The {@link EventLog} over JetStream: a limits-retention stream (`<PREFIX>_EVENTS`, subjects
 * `<prefix>.events.<subject>`, events kept `maxAgeMs`) read through durable pull consumers
 * with explicit acks, so a reader that stops (or a coordinator that restarts) gets every
 * unacked event again once its ack wait has run out. Opened with `manage: false` (agents under
 * NATS permissions, which only append), it creates nothing and waits for the stream instead.
 */
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType } from "nats";
import type { ConsumerMessages, JetStreamClient, JetStreamManager, NatsConnection } from "nats";
import { StagefarmError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  positive,
  DEFAULT_DEDUPE_WINDOW_MS,
  DEFAULT_EVENT_MAX_AGE_MS,
  type AppendOptions,
  type EventLog,
  type LoggedEvent,
  assertDurableName,
  assertKey,
} from "../ports/index.js";
import { ensureConsumer, ensureStream, waitForStream } from "./ensure.js";
import { fromNats } from "./errors.js";
import { assertNamePrefix, DEFAULT_PREFIX, eventStreamName, eventSubjectPrefix } from "./names.js";

export interface NatsEventLogOptions {
  /** Prefix of the stream and subject names (default `sf`). */
  prefix?: string;
  /** Redeliver an event not acked within this time (default 30 s). */
  ackWaitMs?: number;
  /** Drop a repeated `msgId` within this time (default 2 min). */
  dedupeWindowMs?: number;
  /** Keep events this long (default 7 days). */
  maxAgeMs?: number;
  /** Events a reader buffers ahead (default 64). */
  batch?: number;
  storage?: "file" | "memory";
  replicas?: number;
  logger?: Logger;
  /** Create and update the stream (default true); with false, `open` waits for it. */
  manage?: boolean;
  /** Aborts waiting for the stream in `open` (with `manage: false`). */
  signal?: AbortSignal;
}

export class NatsEventLog implements EventLog {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subjects: string;
  readonly #ackWaitMs: number;
  readonly #batch: number;
  readonly #log: Logger;
  readonly #closing = new AbortController();
  readonly #readers = new Set<ConsumerMessages>();

  private constructor(nc: NatsConnection, jsm: JetStreamManager, prefix: string, opts: NatsEventLogOptions) {
    this.#js = nc.jetstream();
    this.#jsm = jsm;
    this.#stream = eventStreamName(prefix);
    this.#subjects = eventSubjectPrefix(prefix);
    this.#ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.#batch = opts.batch ?? 64;
    this.#log = (opts.logger ?? silentLogger()).child({ component: "event-log", stream: this.#stream });
  }

  /** Opens the log on `nc`, creating or updating its stream. The connection stays the caller's. */
  static async open(nc: NatsConnection, opts: NatsEventLogOptions = {}): Promise<NatsEventLog> {
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    assertNamePrefix(prefix);
    positive(opts.ackWaitMs ?? 30_000, "ackWaitMs");
    positive(opts.batch ?? 64, "batch");
    let jsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager();
    } catch (err: unknown) {
      throw fromNats(err, "opening the JetStream event log");
    }
    if (opts.manage === false) {
      await waitForStream(jsm, eventStreamName(prefix), {
        logger: opts.logger ?? silentLogger(),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
      return new NatsEventLog(nc, jsm, prefix, opts);
    }
    await ensureStream(jsm, {
      name: eventStreamName(prefix),
      subjects: [`${eventSubjectPrefix(prefix)}.>`],
      retention: RetentionPolicy.Limits,
      storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
      num_replicas: opts.replicas ?? 1,
      max_age: nanos(positive(opts.maxAgeMs ?? DEFAULT_EVENT_MAX_AGE_MS, "maxAgeMs")),
      duplicate_window: nanos(positive(opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS, "dedupeWindowMs")),
    });
    return new NatsEventLog(nc, jsm, prefix, opts);
  }

  async append(subject: string, payload: Uint8Array, opts: AppendOptions = {}): Promise<void> {
    this.#checkOpen();
    assertKey(subject, "event subject");
    try {
      await this.#js.publish(`${this.#subjects}.${subject}`, payload, {
        msgID: opts.msgId,
        expect: { streamName: this.#stream },
      });
    } catch (err: unknown) {
      throw fromNats(err, `appending event ${subject}`);
    }
  }

  async *consume(durableName: string, opts: { signal: AbortSignal }): AsyncIterable<LoggedEvent> {
    this.#checkOpen();
    assertDurableName(durableName);
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    if (signal.aborted) return;
    await ensureConsumer(this.#jsm, this.#stream, {
      durable_name: durableName,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.#ackWaitMs),
    });
    let messages: ConsumerMessages;
    try {
      const consumer = await this.#js.consumers.get(this.#stream, durableName);
      messages = await consumer.consume({ max_messages: this.#batch });
    } catch (err: unknown) {
      throw fromNats(err, `reading events as ${durableName}`);
    }
    this.#readers.add(messages);
    const stop = (): void => messages.stop();
    signal.addEventListener("abort", stop, { once: true });
    const strip = this.#subjects.length + 1;
    try {
      for await (const jm of messages) {
        if (signal.aborted) break;
        yield {
          subject: jm.subject.slice(strip),
          payload: jm.data,
          seq: jm.seq,
          ack: () => {
            try {
              jm.ack();
            } catch (err: unknown) {
              // A lost ack means a redelivery, which readers must tolerate anyway.
              this.#log.warn(
                { seq: jm.seq, err: fromNats(err, `acking event ${jm.seq}`) },
                "could not ack event",
              );
            }
          },
        };
      }
    } catch (err: unknown) {
      if (!signal.aborted) throw fromNats(err, `reading events as ${durableName}`);
    } finally {
      signal.removeEventListener("abort", stop);
      this.#readers.delete(messages);
      messages.stop();
    }
  }

  close(): Promise<void> {
    this.#closing.abort();
    for (const reader of this.#readers) reader.stop();
    this.#readers.clear();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted)
      throw new StagefarmError("cancelled", `the event log on stream ${this.#stream} is closed`);
  }
}
