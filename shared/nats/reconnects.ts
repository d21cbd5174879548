/**
 * Reconnect notifications for one connection: a single status listener (ending when the
 * connection closes) calling every registered callback after each reconnect. Long-lived
 * readers use it to re-establish server-side state lost in a server restart (e.g. the
 * in-memory ordered consumer behind a KV watch) without waiting for missed heartbeats.
 */
import { Events, type NatsConnection } from "nats";
import { fromNats } from "./errors.js";
import type { Logger } from "../log.js";

export class Reconnects {
  readonly #callbacks = new Set<() => void>();

  constructor(nc: NatsConnection, log: Logger) {
    const watch = async (): Promise<void> => {
      for await (const status of nc.status()) {
        if (status.type !== Events.Reconnect) continue;
        for (const callback of [...this.#callbacks]) callback();
      }
    };
    watch().catch((err: unknown) =>
      log.error({ err: fromNats(err, "watching NATS reconnects") }, "NATS reconnect watch failed"),
    );
  }

  /** Calls `callback` after every reconnect until the returned function is called. */
  subscribe(callback: () => void): () => void {
    this.#callbacks.add(callback);
    return () => this.#callbacks.delete(callback);
  }
}
