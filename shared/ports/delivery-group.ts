/**
 * The delivery state of one consumer group in memory (a pool's queue, an event log durable):
 * which messages are ready, delayed or in flight, with JetStream's rules — oldest ready first,
 * redelivery after the ack wait, `nak(delay)`, `working()` restarting the timer, `ack`/`term`
 * removing the message (also when they come from an earlier delivery).
 */

type State =
  | { t: "ready" }
  | { t: "delayed"; timer: NodeJS.Timeout }
  | { t: "inflight"; delivery: number; timer: NodeJS.Timeout };

interface Entry<T> {
  seq: number;
  item: T;
  deliveries: number;
  state: State;
}

/** One delivery of an entry; its operations are ignored once the entry moved on. */
export interface Delivery<T> {
  readonly seq: number;
  readonly item: T;
  readonly deliveryCount: number;
  ack(): void;
  nak(delayMs?: number): void;
  working(): void;
}

export class DeliveryGroup<T> {
  /** Undone entries by sequence, in ascending order (sequences are added ascending). */
  readonly #entries = new Map<number, Entry<T>>();

  /** `onReady` is called whenever an entry becomes ready (added, redelivery due, nak). */
  constructor(
    readonly ackWaitMs: number,
    readonly onReady: () => void,
  ) {}

  /** Entries not yet acked or termed. */
  get size(): number {
    return this.#entries.size;
  }

  add(seq: number, item: T): void {
    this.#entries.set(seq, { seq, item, deliveries: 0, state: { t: "ready" } });
    this.onReady();
  }

  /** Forgets an entry whatever its state (retention). */
  remove(seq: number): void {
    const entry = this.#entries.get(seq);
    if (!entry) return;
    if (entry.state.t !== "ready") clearTimeout(entry.state.timer);
    this.#entries.delete(seq);
  }

  /** Delivers the oldest ready entry, or returns undefined when none is ready. */
  take(): Delivery<T> | undefined {
    for (const entry of this.#entries.values()) {
      if (entry.state.t !== "ready") continue;
      entry.deliveries += 1;
      const delivery = entry.deliveries;
      entry.state = { t: "inflight", delivery, timer: this.#ackTimer(entry, delivery) };
      return this.#handle(entry, delivery);
    }
    return undefined;
  }

  /** Clears every timer (the group is dropped). */
  close(): void {
    for (const entry of this.#entries.values())
      if (entry.state.t !== "ready") clearTimeout(entry.state.timer);
    this.#entries.clear();
  }

  #ackTimer(entry: Entry<T>, delivery: number): NodeJS.Timeout {
    return setTimeout(() => {
      if (entry.state.t === "inflight" && entry.state.delivery === delivery) {
        entry.state = { t: "ready" };
        this.onReady();
      }
    }, this.ackWaitMs);
  }

  /** Stops the ack timer of `delivery` if it is still the entry's current one; false when it is stale. */
  #stopCurrent(entry: Entry<T>, delivery: number): boolean {
    const { state } = entry;
    if (this.#entries.get(entry.seq) !== entry || state.t !== "inflight" || state.delivery !== delivery)
      return false;
    clearTimeout(state.timer);
    return true;
  }

  #handle(entry: Entry<T>, delivery: number): Delivery<T> {
    return {
      seq: entry.seq,
      item: entry.item,
      deliveryCount: delivery,
      ack: () => this.remove(entry.seq),
      nak: (delayMs = 0) => {
        if (!this.#stopCurrent(entry, delivery)) return;
        if (delayMs <= 0) {
          entry.state = { t: "ready" };
          this.onReady();
          return;
        }
        const timer = setTimeout(() => {
          entry.state = { t: "ready" };
          this.onReady();
        }, delayMs);
        entry.state = { t: "delayed", timer };
      },
      working: () => {
        if (!this.#stopCurrent(entry, delivery)) return;
        entry.state = { t: "inflight", delivery, timer: this.#ackTimer(entry, delivery) };
      },
    };
  }
}
