/** Core NATS implementation of the message bus. Responders join a queue group so one coordinator replica answers. */
import type { NatsConnection, Subscription as NatsSubscription } from "nats";
import { StagefarmError } from "../errors.js";
import { fromNats } from "../nats/index.js";
import type { Logger } from "../log.js";
import type { BusHandler, BusResponder, MessageBus, Subscription } from "./types.js";

export class NatsBus implements MessageBus {
  private readonly subs = new Set<NatsSubscription>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    /** Queue group for responders. */
    private readonly group = "stagefarm",
  ) {}

  publish(subject: string, data: Uint8Array): void {
    try {
      this.nc.publish(subject, data);
    } catch (err: unknown) {
      // Publishing on a closed connection: nothing durable rides on this bus.
      this.log.warn({ subject, err: fromNats(err, `publishing on ${subject}`) }, "bus publish failed");
    }
  }

  subscribe(subject: string, handler: BusHandler): Subscription {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn(
            { subject, err: fromNats(err, `subscription to ${subject}`) },
            "bus subscription error",
          );
          return;
        }
        handler(msg.data, msg.subject);
      },
    });
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        this.subs.delete(sub);
        sub.unsubscribe();
      },
    };
  }

  async request(
    subject: string,
    data: Uint8Array,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    opts.signal?.throwIfAborted();
    try {
      const msg = await this.nc.request(subject, data, { timeout: opts.timeoutMs });
      return msg.data;
    } catch (err: unknown) {
      throw new StagefarmError(
        "unavailable",
        `request on ${subject} failed: ${StagefarmError.from(err).message}`,
        {
          cause: err,
        },
      );
    }
  }

  serve(subject: string, responder: BusResponder): Subscription {
    const sub = this.nc.subscribe(subject, {
      queue: this.group,
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn({ subject, err: fromNats(err, `responder on ${subject}`) }, "bus responder error");
          return;
        }
        responder(msg.data, msg.subject).then(
          (reply) => {
            if (msg.reply !== undefined) msg.respond(reply);
          },
          (e: unknown) =>
            this.log.warn({ subject, err: StagefarmError.from(e) }, "responder failed; no reply sent"),
        );
      },
    });
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        this.subs.delete(sub);
        sub.unsubscribe();
      },
    };
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs.clear();
    await Promise.resolve();
  }
}
