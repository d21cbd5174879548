/**
 * The message bus port: fire-and-forget publish/subscribe and request/reply, for the parts of
 * the protocol that need no durability (claims, heartbeats, live log chunks, control). Durable
 * traffic goes through the JobQueue and EventLog ports instead. Implementations: in-process
 * (`MemoryBus`) and core NATS (`NatsBus`); one conformance suite (test/conformance/bus.ts).
 *
 * Subjects are NATS-style: dot-separated tokens; subscriptions may use `*` (one token) and `>`
 * (the rest, last token only).
 */
export type BusHandler = (data: Uint8Array, subject: string) => void;
export type BusResponder = (data: Uint8Array, subject: string) => Promise<Uint8Array>;

export interface Subscription {
  unsubscribe(): void;
}

export interface MessageBus {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: BusHandler): Subscription;
  /** Sends a request and waits for one reply; `unavailable` when nobody answers in time. */
  request(
    subject: string,
    data: Uint8Array,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<Uint8Array>;
  /** Answers requests on `subject`; a responder that throws sends no reply (the requester times out). */
  serve(subject: string, responder: BusResponder): Subscription;
  /** Resolves once everything published so far has reached the server (NATS) or the handlers. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Whether a subscription pattern matches a concrete subject. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === ">") return s.length > i;
    if (i >= s.length) return false;
    if (tok !== "*" && tok !== s[i]) return false;
  }
  return p.length === s.length;
}
