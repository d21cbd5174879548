/**
 * The dashboard's event sequence: every run and stage change it publishes gets a number, and
 * the newest {@link RING_SIZE} are kept so a client that reconnects (`Last-Event-ID`) gets
 * exactly what it missed. Ids are `<epoch>.<seq>`: the epoch is new with every process, so an
 * id from before a coordinator restart (or one older than the ring) is recognised as not
 * resumable and the client gets a fresh snapshot instead.
 *
 * Scopes: `run` events belong to one run's page (`stage`, `run`); `global` events feed the
 * runs list (`run` summaries without stages).
 */
export const RING_SIZE = 20_000;

export type Scope = "run" | "global";

export interface HubEvent {
  seq: number;
  scope: Scope;
  runId: string;
  /** The SSE event name. */
  name: string;
  /** Proto3 JSON of the message it carries. */
  data: unknown;
}

export class EventHub {
  readonly epoch: string;
  private seq = 0;
  private readonly ring: HubEvent[] = [];
  private readonly listeners = new Set<(e: HubEvent) => void>();

  constructor(now = Date.now()) {
    this.epoch = now.toString(36);
  }

  /** The sequence number of the newest event (0 before the first). */
  get current(): number {
    return this.seq;
  }

  id(seq: number): string {
    return `${this.epoch}.${seq}`;
  }

  publish(scope: Scope, runId: string, name: string, data: unknown): HubEvent {
    const e: HubEvent = { seq: ++this.seq, scope, runId, name, data };
    this.ring.push(e);
    if (this.ring.length > RING_SIZE) this.ring.splice(0, this.ring.length - RING_SIZE);
    for (const l of this.listeners) l(e);
    return e;
  }

  subscribe(listener: (e: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The sequence number a client that last saw `lastId` resumes after, or undefined when it
   * cannot resume (no id, another process's id, or events it missed have left the ring).
   */
  resumeFrom(lastId: string | undefined): number | undefined {
    if (lastId === undefined) return undefined;
    const m = /^([0-9a-z]+)\.(\d+)$/.exec(lastId);
    if (m === null || m[1] !== this.epoch) return undefined;
    const seq = Number(m[2]);
    if (seq > this.seq) return undefined;
    const oldest = this.ring[0]?.seq ?? this.seq + 1;
    return seq + 1 >= oldest ? seq : undefined;
  }

  /** Held events after `afterSeq` that `filter` accepts, oldest first. */
  after(afterSeq: number, filter: (e: HubEvent) => boolean): HubEvent[] {
    const first = this.ring[0]?.seq ?? this.seq + 1;
    const start = Math.max(0, afterSeq + 1 - first);
    return this.ring.slice(start).filter(filter);
  }
}
