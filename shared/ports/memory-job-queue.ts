/**
 * The in-process {@link JobQueue} (embedded mode, tests): one {@link DeliveryGroup} per pool,
 * with JetStream's semantics — redelivery after `ackWaitMs`, `nak(delay)`, `term`, message-id
 * deduplication within a window. Jobs live only as long as the process.
 */
import { StagefarmError } from "../errors.js";
import { DedupeWindow, DEFAULT_DEDUPE_WINDOW_MS } from "./dedupe-window.js";
import { DeliveryGroup, type Delivery } from "./delivery-group.js";
import type { ConsumeOptions, JobQueue, PublishOptions, QueueMessage } from "./job-queue.js";
import { assertPool } from "./names.js";
import { checkPools, positive } from "./checks.js";
import { Notifier } from "./notifier.js";
import { settle } from "./settle.js";

export interface MemoryJobQueueOptions {
  /** Redeliver a message not acked within this time (default 30 s). */
  ackWaitMs?: number;
  /** Drop a repeated `msgId` within this time (default 2 min, as JetStream). */
  dedupeWindowMs?: number;
}

export const DEFAULT_ACK_WAIT_MS = 30_000;

export class MemoryJobQueue implements JobQueue {
  readonly #pools = new Map<string, DeliveryGroup<Uint8Array>>();
  readonly #changed = new Notifier();
  readonly #closing = new AbortController();
  readonly #dedupe: DedupeWindow;
  readonly #ackWaitMs: number;
  #seq = 0;

  constructor(opts: MemoryJobQueueOptions = {}) {
    this.#ackWaitMs = positive(opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS, "ackWaitMs");
    this.#dedupe = new DedupeWindow(opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS);
  }

  publish(pool: string, payload: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    return settle(() => {
      this.#checkOpen();
      assertPool(pool);
      if (opts.msgId !== undefined && this.#dedupe.isRepeat(opts.msgId)) return;
      this.#seq += 1;
      this.#group(pool).add(this.#seq, payload.slice());
    });
  }

  async *consume(pools: readonly string[], opts: ConsumeOptions): AsyncIterable<QueueMessage> {
    this.#checkOpen();
    const order = checkPools(pools);
    const maxInFlight = positive(opts.maxInFlight ?? 1, "maxInFlight");
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    let inFlight = 0;
    let cursor = 0;
    const release = (): void => {
      inFlight -= 1;
      this.#changed.notify();
    };
    while (!signal.aborted) {
      let next: { pool: string; delivery: Delivery<Uint8Array> } | undefined;
      if (inFlight < maxInFlight) {
        for (let i = 0; i < order.length && !next; i++) {
          const pool = order[(cursor + i) % order.length] ?? "";
          const delivery = this.#group(pool).take();
          if (delivery) {
            next = { pool, delivery };
            cursor = (cursor + i + 1) % order.length;
          }
        }
      }
      if (!next) {
        await this.#changed.wait(signal);
        continue;
      }
      inFlight += 1;
      yield message(next.pool, next.delivery, release, () => this.#closing.signal.aborted);
    }
  }

  depth(pool: string): Promise<number> {
    return settle(() => {
      this.#checkOpen();
      assertPool(pool);
      return this.#pools.get(pool)?.size ?? 0;
    });
  }

  close(): Promise<void> {
    this.#closing.abort();
    for (const group of this.#pools.values()) group.close();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted)
      throw new StagefarmError("cancelled", "the in-memory job queue is closed");
  }

  #group(pool: string): DeliveryGroup<Uint8Array> {
    let group = this.#pools.get(pool);
    if (!group) {
      group = new DeliveryGroup<Uint8Array>(this.#ackWaitMs, () => this.#changed.notify());
      this.#pools.set(pool, group);
    }
    return group;
  }
}

function message(
  pool: string,
  delivery: Delivery<Uint8Array>,
  release: () => void,
  closed: () => boolean,
): QueueMessage {
  let settled = false;
  const settleWith = (op: () => void): void => {
    if (settled) return;
    settled = true;
    if (!closed()) op();
    release();
  };
  return {
    pool,
    payload: delivery.item.slice(),
    deliveryCount: delivery.deliveryCount,
    ack: () => settleWith(() => delivery.ack()),
    nak: (delayMs?: number) => settleWith(() => delivery.nak(delayMs)),
    term: () => settleWith(() => delivery.ack()),
    working: () => {
      if (!settled && !closed()) delivery.working();
    },
  };
}
