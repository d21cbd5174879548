/**
 * The {@link JobQueue} over JetStream: one work-queue stream (`<PREFIX>_JOBS`, subjects
 * `<prefix>.jobs.<pool>`) and one durable pull consumer per pool (nats-server 2.9 refuses
 * consumers with several filter subjects, and a work-queue stream needs non-overlapping ones).
 *
 * A consumer serving several pools (an agent serves every subset of its labels: up to 256)
 * pulls only while it has a free in-flight slot, so it never holds a job it cannot start: one
 * message, and when the server says more wait behind it, as many of those as the caller has
 * free slots (`capacity`) in one more fetch, so a backlog costs one pull per batch, not per
 * job; each job is handed out as it arrives. It asks only pools that hold jobs: a core-NATS
 * subscription on each pool's subject says which pool just got one, and one stream-info
 * request (subject counts) lists the pools with stored jobs, e.g. redeliveries (asked again
 * every `idlePollMs` while idle). Those pools are pulled in turn (a batch only when no other
 * pool is known to hold jobs), each pull waiting up to `pullExpiresMs`. A pull is
 * never abandoned while the server may still answer it (that would strand a job until its ack
 * wait ran out), so stopping takes up to `pullExpiresMs`. Consumers are created on first use.
 *
 * No `max_deliver` is set: a job is redelivered until someone acks or terms it. (On 2.9 a
 * work-queue message that reached max_deliver would stay in the stream, counted by `depth`,
 * until removed by hand.) Counting attempts is the coordinator's job.
 *
 * A managing queue (the default; the coordinator) creates the stream, and a pool's consumer
 * before the pool's first job is published. A queue opened with `manage: false` (an agent
 * under NATS permissions: deploy/nats/) creates nothing: it waits for the stream at open and
 * pulls only from consumers that exist, needing no more than STREAM.INFO, CONSUMER.INFO,
 * CONSUMER.MSG.NEXT and acks of its pools (shared/nats/permissions.ts).
 */
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType } from "nats";
import type { Consumer, JetStreamClient, JetStreamManager, JsMsg, NatsConnection, Subscription } from "nats";
import { StagefarmError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  checkPools,
  positive,
  DEFAULT_DEDUPE_WINDOW_MS,
  type ConsumeOptions,
  type JobQueue,
  type PublishOptions,
  type QueueMessage,
  assertPool,
  Notifier,
} from "../ports/index.js";
import { ensureConsumer, ensureStream, waitForStream } from "./ensure.js";
import { fromNats, isNotFound } from "./errors.js";
import { Reconnects } from "./reconnects.js";
import { assertNamePrefix, DEFAULT_PREFIX, jobConsumerName, jobStreamName, jobSubject } from "./names.js";

export interface NatsJobQueueOptions {
  /** Prefix of the stream, subject and consumer names (default `sf`). */
  prefix?: string;
  /** Redeliver a job not acked within this time (default 30 s). */
  ackWaitMs?: number;
  /** Drop a repeated `msgId` within this time (default 2 min). */
  dedupeWindowMs?: number;
  /** How long one pull waits for a job before the next pool is asked (default and minimum 1000 ms). */
  pullExpiresMs?: number;
  /**
   * How often an idle consumer looks for jobs that came back without a publish (ack wait run
   * out, `nak` delay over); default 1000 ms. New jobs are seen at once.
   */
  idlePollMs?: number;
  storage?: "file" | "memory";
  replicas?: number;
  logger?: Logger;
  /**
   * Create and update the stream and the pools' consumers (default true). With false, `open`
   * waits for the stream and `consume` uses only consumers that exist.
   */
  manage?: boolean;
  /** Aborts waiting for the stream in `open` (with `manage: false`). */
  signal?: AbortSignal;
}

const POLL_TIMEOUT_MS = 2000;
const RETRY_MS = 250;

export class NatsJobQueue implements JobQueue {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  /** For the idle poll: a short timeout, so a request lost in a reconnect is retried soon. */
  readonly #pollJsm: JetStreamManager;
  readonly #prefix: string;
  readonly #stream: string;
  readonly #ackWaitMs: number;
  readonly #pullExpiresMs: number;
  readonly #idlePollMs: number;
  readonly #log: Logger;
  readonly #closing = new AbortController();
  readonly #pulls = new Set<Promise<unknown>>();
  readonly #subs = new Set<Subscription>();
  readonly #reconnects: Reconnects;
  readonly #manage: boolean;
  /** Pools whose consumer this queue made sure of (managing queues, before publishing). */
  readonly #ensured = new Map<string, Promise<void>>();

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    pollJsm: JetStreamManager,
    prefix: string,
    opts: NatsJobQueueOptions,
  ) {
    this.#nc = nc;
    this.#js = nc.jetstream();
    this.#jsm = jsm;
    this.#pollJsm = pollJsm;
    this.#prefix = prefix;
    this.#stream = jobStreamName(prefix);
    this.#ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.#pullExpiresMs = Math.max(1000, opts.pullExpiresMs ?? 1000);
    this.#idlePollMs = opts.idlePollMs ?? 1000;
    this.#log = (opts.logger ?? silentLogger()).child({ component: "job-queue", stream: this.#stream });
    this.#reconnects = new Reconnects(nc, this.#log);
    this.#manage = opts.manage ?? true;
  }

  /** Opens the queue on `nc`, creating or updating its stream. The connection stays the caller's. */
  static async open(nc: NatsConnection, opts: NatsJobQueueOptions = {}): Promise<NatsJobQueue> {
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    assertNamePrefix(prefix);
    positive(opts.ackWaitMs ?? 30_000, "ackWaitMs");
    let jsm: JetStreamManager;
    let pollJsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager();
      pollJsm = await nc.jetstreamManager({ timeout: POLL_TIMEOUT_MS, checkAPI: false });
    } catch (err: unknown) {
      throw fromNats(err, "opening the JetStream job queue");
    }
    if (opts.manage === false)
      await waitForStream(jsm, jobStreamName(prefix), {
        logger: opts.logger ?? silentLogger(),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
    else
      await ensureStream(jsm, {
        name: jobStreamName(prefix),
        subjects: [jobSubject(prefix, ">")],
        retention: RetentionPolicy.Workqueue,
        storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
        num_replicas: opts.replicas ?? 1,
        duplicate_window: nanos(positive(opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS, "dedupeWindowMs")),
      });
    return new NatsJobQueue(nc, jsm, pollJsm, prefix, opts);
  }

  async publish(pool: string, payload: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    this.#checkOpen();
    assertPool(pool);
    if (this.#manage) await this.#ensurePoolConsumer(pool);
    try {
      await this.#js.publish(jobSubject(this.#prefix, pool), payload, {
        msgID: opts.msgId,
        expect: { streamName: this.#stream },
      });
    } catch (err: unknown) {
      throw fromNats(err, `publishing a job to pool ${pool}`);
    }
  }

  async *consume(pools: readonly string[], opts: ConsumeOptions): AsyncIterable<QueueMessage> {
    this.#checkOpen();
    const order = checkPools(pools);
    const maxInFlight = positive(opts.maxInFlight ?? 1, "maxInFlight");
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    const consumers = new Map<string, Consumer>();
    const wake = new Notifier();
    const hinted = new Set<string>();
    const subs = order.map((pool) =>
      this.#nc.subscribe(jobSubject(this.#prefix, pool), {
        callback: (err) => {
          if (err !== null) return; // e.g. a subscription the user may not make: no hint
          hinted.add(pool);
          wake.notify();
        },
      }),
    );
    for (const sub of subs) this.#subs.add(sub);
    const unsubscribe = this.#reconnects.subscribe(() => wake.notify());
    let inFlight = 0;
    let candidates: string[] = [];
    /** Pools this connection's NATS user may not pull (logged once, then left alone). */
    const forbidden = new Set<string>();
    let fruitless = false;
    /** Jobs the running pull brought and not handed out yet (never more than the caller can take). */
    const arrived: Array<{ pool: string; m: JsMsg }> = [];
    let pulling: Promise<void> | undefined;
    let failure: StagefarmError | undefined;
    /** Set once this consumer ends: a job a pull still brings goes back to the queue at once. */
    let ended = false;
    const release = (): void => {
      inFlight -= 1;
      wake.notify();
    };
    try {
      while (!signal.aborted) {
        const next = arrived.shift();
        if (next !== undefined) {
          inFlight += 1;
          yield wrap(next.pool, next.m, release, this.#log);
          continue;
        }
        if (failure !== undefined) throw failure;
        if (pulling !== undefined || inFlight >= maxInFlight) {
          await wake.wait(signal);
          continue;
        }
        const pool = order.find((p) => hinted.has(p) && !forbidden.has(p)) ?? candidates.shift();
        if (pool === undefined) {
          if (fruitless) {
            // The pools listed last time gave nothing (their jobs are in flight or delayed).
            fruitless = false;
            await wake.wait(signal, this.#idlePollMs);
            continue;
          }
          candidates = (await this.#poolsWithJobs(order, signal, wake)).filter((p) => !forbidden.has(p));
          if (candidates.length > 0) fruitless = true;
          else if (hinted.size === 0) await wake.wait(signal, this.#idlePollMs);
          continue;
        }
        hinted.delete(pool);
        // Pools take turns: a batch only when no other pool is known to hold jobs.
        const others = candidates.length > 0 || [...hinted].some((p) => !forbidden.has(p));
        const room = others
          ? 1
          : Math.max(1, Math.min(maxInFlight - inFlight, opts.capacity?.() ?? Number.POSITIVE_INFINITY));
        const take = (m: JsMsg): void => {
          if (ended) {
            m.nak();
            return;
          }
          fruitless = false;
          arrived.push({ pool, m });
          wake.notify();
        };
        const p = this.#pull(pool, room, consumers, signal, wake, forbidden, take)
          .catch((err: unknown) => {
            failure = StagefarmError.from(err);
          })
          .finally(() => {
            pulling = undefined;
            wake.notify();
          });
        pulling = p;
        // Usually the first job arrives before the pull ends; either wakes this loop.
        await wake.wait(signal);
      }
    } finally {
      // Arrived while stopping, or the caller stopped taking them: hand them back at once.
      ended = true;
      for (const { m } of arrived.splice(0)) m.nak();
      unsubscribe();
      for (const sub of subs) {
        this.#subs.delete(sub);
        sub.unsubscribe();
      }
    }
  }

  async depth(pool: string): Promise<number> {
    this.#checkOpen();
    assertPool(pool);
    const subject = jobSubject(this.#prefix, pool);
    try {
      const info = await this.#jsm.streams.info(this.#stream, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    } catch (err: unknown) {
      throw fromNats(err, `reading the depth of pool ${pool}`);
    }
  }

  async close(): Promise<void> {
    this.#closing.abort();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.clear();
    await Promise.allSettled([...this.#pulls]);
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted)
      throw new StagefarmError("cancelled", `the job queue on stream ${this.#stream} is closed`);
  }

  /** Creates the pool's consumer once per queue, so that agents that may not create it find it. */
  async #ensurePoolConsumer(pool: string): Promise<void> {
    let ensured = this.#ensured.get(pool);
    if (ensured === undefined) {
      ensured = this.#ensureConsumer(pool);
      this.#ensured.set(pool, ensured);
      ensured.catch(() => this.#ensured.delete(pool)); // tried again on the next publish
    }
    await ensured;
  }

  async #ensureConsumer(pool: string): Promise<void> {
    await ensureConsumer(this.#jsm, this.#stream, {
      durable_name: jobConsumerName(this.#prefix, pool),
      filter_subject: jobSubject(this.#prefix, pool),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.#ackWaitMs),
    });
  }

  /** The pool's consumer; undefined when it does not exist and this queue may not create it. */
  async #consumer(pool: string): Promise<Consumer | undefined> {
    if (this.#manage) await this.#ensureConsumer(pool);
    try {
      return await this.#js.consumers.get(this.#stream, jobConsumerName(this.#prefix, pool));
    } catch (err: unknown) {
      if (!this.#manage && isNotFound(err)) return undefined;
      throw fromNats(err, `opening the consumer of pool ${pool}`);
    }
  }

  /**
   * The pools among `order` that hold jobs (waiting, delayed or in flight), per one stream
   * info request; [] when it failed or when `wake` fired first (a hint, a reconnect: a request
   * lost in a reconnect would otherwise hold the consumer until it timed out).
   */
  async #poolsWithJobs(order: string[], signal: AbortSignal, wake: Notifier): Promise<string[]> {
    const request = this.#pollJsm.streams.info(this.#stream, {
      subjects_filter: jobSubject(this.#prefix, ">"),
    });
    const woken = wake.start(signal);
    try {
      const info = await Promise.race([request, woken.done.then(() => undefined)]);
      if (info === undefined) {
        request.catch(() => undefined); // abandoned read-only request: its outcome no longer matters
        return [];
      }
      const counts = info.state.subjects ?? {};
      return order.filter((pool) => (counts[jobSubject(this.#prefix, pool)] ?? 0) > 0);
    } catch (err: unknown) {
      const error = fromNats(err, `listing the pools with jobs on stream ${this.#stream}`);
      if (this.#nc.isClosed() || error.code === "invalid_argument") throw error;
      this.#log.warn({ err: error }, "listing pools failed, retrying");
      await wake.wait(signal, RETRY_MS);
      return [];
    } finally {
      woken.cancel();
    }
  }

  /**
   * One pull from `pool` of at most `room` jobs, each handed to `take` as it arrives: one job,
   * and when the server says more wait behind it, up to `room - 1` of those in one more fetch
   * (a batch of jobs that are there already; when other consumers took them first, the fetch
   * waits out `pullExpiresMs`, its jobs still handed out as they come). Resolves when the pull
   * ended; failures are logged and retried later, except a closed connection or an invalid
   * request, which reject. Every fetch is read to its end: a pull abandoned while the server
   * may still answer it would strand a job until its ack wait ran out.
   */
  async #pull(
    pool: string,
    room: number,
    consumers: Map<string, Consumer>,
    signal: AbortSignal,
    wake: Notifier,
    forbidden: Set<string>,
    take: (m: JsMsg) => void,
  ): Promise<void> {
    const pull = (async (): Promise<void> => {
      let consumer = consumers.get(pool);
      if (!consumer) {
        consumer = await this.#consumer(pool);
        if (consumer === undefined) {
          // Not created yet (no job was ever published to the pool): look again later.
          await wake.wait(signal, this.#pullExpiresMs);
          return;
        }
        consumers.set(pool, consumer);
      }
      let behind = 0;
      for await (const m of await consumer.fetch({ max_messages: 1, expires: this.#pullExpiresMs })) {
        behind = m.info.pending;
        take(m);
      }
      const more = Math.min(room - 1, behind);
      if (more > 0 && !signal.aborted)
        for await (const m of await consumer.fetch({ max_messages: more, expires: this.#pullExpiresMs }))
          take(m);
    })();
    this.#pulls.add(pull);
    try {
      await pull;
    } catch (err: unknown) {
      const error = fromNats(err, `pulling a job from pool ${pool}`);
      if (error.details["natsCode"] === "PERMISSIONS_VIOLATION") {
        // Labels beyond the user's permissions (deploy/nats/): serve the other pools.
        forbidden.add(pool);
        this.#log.error(
          { pool, err: error },
          "this NATS user may not pull this pool: its jobs are left to other agents (make the user's block again with the agent's current labels)",
        );
        return;
      }
      if (this.#nc.isClosed() || error.code === "invalid_argument") throw error;
      this.#log.warn({ pool, err: error }, "pull failed, retrying");
      if (isNotFound(err)) consumers.delete(pool); // re-created on the next pull
      await wake.wait(signal, this.#pullExpiresMs);
    } finally {
      this.#pulls.delete(pull);
    }
  }
}

function wrap(pool: string, jm: JsMsg, release: () => void, log: Logger): QueueMessage {
  let settled = false;
  const send = (op: string, signal: () => void): void => {
    try {
      signal();
    } catch (err: unknown) {
      // A lost signal means a redelivery, which the lease protocol tolerates.
      log.warn(
        { pool, seq: jm.seq, op, err: fromNats(err, `${op} of job ${jm.seq} in pool ${pool}`) },
        "could not send to NATS",
      );
    }
  };
  const settle = (op: string, signal: () => void): void => {
    if (settled) return;
    settled = true;
    send(op, signal);
    release();
  };
  return {
    pool,
    payload: jm.data,
    deliveryCount: jm.info.redeliveryCount,
    ack: () => settle("ack", () => jm.ack()),
    nak: (delayMs?: number) => settle("nak", () => jm.nak(delayMs)),
    term: () => settle("term", () => jm.term()),
    working: () => {
      if (!settled) send("working", () => jm.working());
    },
  };
}
