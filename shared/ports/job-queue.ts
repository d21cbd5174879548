/**
 * The job queue port: work-queue dispatch of stage jobs to agents, one queue per pool (the set
 * of labels a job requires, see `poolName`).
 *
 * Protocol and semantics (both implementations):
 * - `publish` stores a job in its pool until a consumer acknowledges or terminates it. With a
 *   `msgId`, a second publish of the same id within the dedupe window is dropped (the first
 *   one stands), so a coordinator may safely retry a publish.
 * - `consume` delivers each stored job to exactly one consumer at a time, oldest first, taking
 *   pools round-robin. A delivered message holds one of the consumer's `maxInFlight` slots until
 *   `ack`, `nak` or `term` is called on it (even after its ack wait ran out).
 * - A message neither acked, naked nor termed within `ackWaitMs` (an option of the
 *   implementation; `working()` restarts that timer) is delivered again, to any consumer, with
 *   `deliveryCount` one higher. `nak(delayMs)` asks for redelivery after the delay (at once
 *   without one); `term()` drops the message for good.
 * - The ack is **not** the lease: it only stops redelivery. The coordinator decides who owns an
 *   attempt (compare-and-set in KV). A late `ack` from an earlier delivery still removes the
 *   message; the lease protocol must tolerate the resulting duplicate or missing delivery.
 * - `ack`/`nak`/`term`/`working` never throw: they are asynchronous signals, and one that is
 *   lost (connection closing) only means a redelivery. Only the first of `ack`/`nak`/`term`
 *   counts.
 * - There is no maximum number of deliveries: deciding that a job failed for good is the
 *   coordinator's (it counts attempts), which then calls `term()` or `ack()`.
 */

/** One delivery of a job to a consumer. */
export interface QueueMessage {
  readonly pool: string;
  readonly payload: Uint8Array;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  readonly deliveryCount: number;
  /** Done: remove the job. */
  ack(): void;
  /** Not done: deliver it again after `delayMs` (default 0). */
  nak(delayMs?: number): void;
  /** Never deliver it again (it is removed). */
  term(): void;
  /** Still working on it: restart its ack-wait timer. */
  working(): void;
}

export interface PublishOptions {
  /** Deduplication id: a repeated id within the dedupe window is dropped. */
  msgId?: string;
}

export interface ConsumeOptions {
  /** Stops consuming; the iteration ends without error. Messages already delivered stay valid. */
  signal: AbortSignal;
  /** Messages delivered and not yet acked/naked/termed at one time (default 1). */
  maxInFlight?: number;
  /**
   * How many jobs the caller could start now (default: its free `maxInFlight`). An
   * implementation that pulls several jobs at once pulls no more than this, so no job waits in
   * a local buffer (its ack wait running) for a slot. Read when the caller asks for the next job.
   */
  capacity?: () => number;
}

export interface JobQueue {
  /** Queues `payload` in `pool`. Resolves once the job is stored. */
  publish(pool: string, payload: Uint8Array, opts?: PublishOptions): Promise<void>;
  /** Delivers jobs from `pools` (round-robin between them) until the signal fires. */
  consume(pools: readonly string[], opts: ConsumeOptions): AsyncIterable<QueueMessage>;
  /** Jobs of `pool` not yet acked or termed: waiting, delayed or being worked on. */
  depth(pool: string): Promise<number>;
  /** Ends open consumers; later calls fail with `cancelled`. Idempotent. Does not close a shared connection. */
  close(): Promise<void>;
}
