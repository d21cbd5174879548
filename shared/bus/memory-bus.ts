/** In-process message bus for the embedded farm and unit tests. Delivery is asynchronous (a microtask later), like NATS. */
import { StagefarmError } from "../errors.js";
import {
  subjectMatches,
  type BusHandler,
  type BusResponder,
  type MessageBus,
  type Subscription,
} from "./types.js";

export class MemoryBus implements MessageBus {
  private readonly subs = new Set<{ pattern: string; handler: BusHandler }>();
  private readonly responders = new Map<string, BusResponder[]>();
  private closed = false;

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    for (const s of [...this.subs]) {
      if (!subjectMatches(s.pattern, subject)) continue;
      queueMicrotask(() => {
        if (this.subs.has(s)) s.handler(data, subject);
      });
    }
  }

  subscribe(subject: string, handler: BusHandler): Subscription {
    const entry = { pattern: subject, handler };
    this.subs.add(entry);
    return { unsubscribe: () => void this.subs.delete(entry) };
  }

  async request(
    subject: string,
    data: Uint8Array,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    // Like a NATS queue group: one responder answers (round robin). Responders may serve a
    // pattern (`sf.claim.*`), as on NATS.
    const exact = this.responders.get(subject);
    const list =
      exact !== undefined && exact.length > 0
        ? exact
        : ([...this.responders].find(([p, l]) => l.length > 0 && subjectMatches(p, subject))?.[1] ?? []);
    const responder = list.shift();
    if (responder === undefined || this.closed)
      throw new StagefarmError("unavailable", `no responder for ${subject}`);
    list.push(responder);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StagefarmError("unavailable", `request on ${subject} timed out after ${opts.timeoutMs} ms`),
          ),
        opts.timeoutMs,
      );
    });
    try {
      opts.signal?.throwIfAborted();
      return await Promise.race([responder(data, subject), timeout]);
    } catch (err: unknown) {
      throw StagefarmError.from(err, "unavailable");
    } finally {
      clearTimeout(timer);
    }
  }

  serve(subject: string, responder: BusResponder): Subscription {
    const list = this.responders.get(subject) ?? [];
    list.push(responder);
    this.responders.set(subject, list);
    return {
      unsubscribe: () => {
        const l = this.responders.get(subject);
        if (l !== undefined)
          this.responders.set(
            subject,
            l.filter((r) => r !== responder),
          );
      },
    };
  }

  async flush(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subs.clear();
    this.responders.clear();
    await Promise.resolve();
  }
}
