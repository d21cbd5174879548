/**
 * The in-process {@link EventLog}: an append-only list of events (dropped after `maxAgeMs`)
 * and one {@link DeliveryGroup} per durable name, created on its first `consume` with every
 * retained event, so a durable's unacked events are redelivered after `ackWaitMs` — also to a
 * later reader of the same durable. Events live only as long as the process.
 */
import { StagefarmError } from "../errors.js";
import { positive } from "./checks.js";
import { DedupeWindow, DEFAULT_DEDUPE_WINDOW_MS } from "./dedupe-window.js";
import { DeliveryGroup } from "./delivery-group.js";
import {
  DEFAULT_EVENT_MAX_AGE_MS,
  type AppendOptions,
  type EventLog,
  type LoggedEvent,
} from "./event-log.js";
import { assertDurableName, assertKey } from "./names.js";
import { Notifier } from "./notifier.js";
import { settle } from "./settle.js";

export interface MemoryEventLogOptions {
  /** Redeliver an event not acked within this time (default 30 s). */
  ackWaitMs?: number;
  /** Drop a repeated `msgId` within this time (default 2 min). */
  dedupeWindowMs?: number;
  /** Forget events older than this (default 7 days). */
  maxAgeMs?: number;
  now?: () => number;
}

interface StoredEvent {
  seq: number;
  subject: string;
  payload: Uint8Array;
  at: number;
}

export class MemoryEventLog implements EventLog {
  readonly #events: StoredEvent[] = [];
  readonly #durables = new Map<string, DeliveryGroup<StoredEvent>>();
  readonly #changed = new Notifier();
  readonly #closing = new AbortController();
  readonly #dedupe: DedupeWindow;
  readonly #ackWaitMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #seq = 0;

  constructor(opts: MemoryEventLogOptions = {}) {
    this.#ackWaitMs = positive(opts.ackWaitMs ?? 30_000, "ackWaitMs");
    this.#maxAgeMs = positive(opts.maxAgeMs ?? DEFAULT_EVENT_MAX_AGE_MS, "maxAgeMs");
    this.#now = opts.now ?? Date.now;
    this.#dedupe = new DedupeWindow(opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS, this.#now);
  }

  append(subject: string, payload: Uint8Array, opts: AppendOptions = {}): Promise<void> {
    return settle(() => {
      this.#checkOpen();
      assertKey(subject, "event subject");
      if (opts.msgId !== undefined && this.#dedupe.isRepeat(opts.msgId)) return;
      this.#prune();
      this.#seq += 1;
      const event: StoredEvent = { seq: this.#seq, subject, payload: payload.slice(), at: this.#now() };
      this.#events.push(event);
      for (const group of this.#durables.values()) group.add(event.seq, event);
    });
  }

  async *consume(durableName: string, opts: { signal: AbortSignal }): AsyncIterable<LoggedEvent> {
    this.#checkOpen();
    assertDurableName(durableName);
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    const group = this.#durable(durableName);
    while (!signal.aborted) {
      const delivery = group.take();
      if (!delivery) {
        await this.#changed.wait(signal);
        continue;
      }
      const { seq, subject, payload } = delivery.item;
      yield { seq, subject, payload: payload.slice(), ack: () => delivery.ack() };
    }
  }

  close(): Promise<void> {
    this.#closing.abort();
    for (const group of this.#durables.values()) group.close();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted)
      throw new StagefarmError("cancelled", "the in-memory event log is closed");
  }

  #durable(name: string): DeliveryGroup<StoredEvent> {
    let group = this.#durables.get(name);
    if (!group) {
      group = new DeliveryGroup<StoredEvent>(this.#ackWaitMs, () => this.#changed.notify());
      for (const event of this.#events) group.add(event.seq, event);
      this.#durables.set(name, group);
    }
    return group;
  }

  #prune(): void {
    const oldest = this.#now() - this.#maxAgeMs;
    let drop = 0;
    while (drop < this.#events.length && (this.#events[drop]?.at ?? oldest) < oldest) drop++;
    for (const event of this.#events.splice(0, drop))
      for (const group of this.#durables.values()) group.remove(event.seq);
  }
}
