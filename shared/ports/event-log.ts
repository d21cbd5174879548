/**
 * The event log port: durable agent→coordinator events (stage started, progress, log chunks,
 * finished), so that a coordinator restart loses none.
 *
 * Semantics (both implementations):
 * - `append` stores an event under a subject (dot-separated tokens, e.g.
 *   `agent.a1.stage.finished`); with a `msgId`, a repeat within the dedupe window is dropped.
 * - Every durable consumer (named by the reader, e.g. `coordinator`) sees every stored event,
 *   in append order, until it acks it. Readers sharing one durable name share its events (each
 *   event to one of them). An event delivered and not acked within `ackWaitMs` (an option of
 *   the implementation) is delivered again, also to a later reader of the same durable — which
 *   is how events survive a reader's restart. A redelivered event may come after newer ones:
 *   per-subject order holds for events that were acked in time.
 * - Events are kept for `maxAgeMs` (an option; default 7 days), acked or not.
 */

/** One delivery of a stored event. */
export interface LoggedEvent {
  readonly subject: string;
  readonly payload: Uint8Array;
  /** Position in the log (grows with every stored event). */
  readonly seq: number;
  /** Done with it: never deliver it to this durable again. Never throws. */
  ack(): void;
}

export interface AppendOptions {
  /** Deduplication id: a repeated id within the dedupe window is dropped. */
  msgId?: string;
}

export interface EventLog {
  /** Stores an event. Resolves once it is durable. */
  append(subject: string, payload: Uint8Array, opts?: AppendOptions): Promise<void>;
  /** Delivers the events not yet acked by `durableName`, oldest first, until the signal fires (then ends without error). */
  consume(durableName: string, opts: { signal: AbortSignal }): AsyncIterable<LoggedEvent>;
  /** Ends open consumers; later calls fail with `cancelled`. Idempotent. Does not close a shared connection. */
  close(): Promise<void>;
}

/** Default retention of events. */
export const DEFAULT_EVENT_MAX_AGE_MS = 7 * 24 * 3_600_000;
