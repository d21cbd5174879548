/**
 * The coordinator's watch on the artifact store. Its own store calls tell the shared
 * {@link StoreOutage} when the store stops (or starts again) answering, but an idle coordinator
 * makes none, and one holding new work during an outage makes none either: this probe asks
 * the store a cheap question (the size of a blob that does not exist) every few seconds, so
 * that the outage is seen, shown (`store unavailable since T` as the waiting reason, the
 * `stagefarm_store_*` gauges) and ended when the store is back.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Digest } from "../shared/digest.js";
import { errorFields, type Logger } from "../shared/log.js";
import { isStoreOutageFailure, type StoreOutage, type ArtifactStore } from "../shared/store/index.js";

/** A digest no content has in practice: its stat answers "absent" from a healthy store. */
const PROBE_DIGEST: Digest = "0".repeat(64);

export interface StoreProbeOptions {
  /** The store itself (not the outage-tolerant wrapper: a probe is one question, not a wait). */
  store: ArtifactStore;
  outage: StoreOutage;
  logger: Logger;
  /** Between probes while the store answers (default 2 s). */
  intervalMs?: number;
  /** Between probes during an outage (default 1 s). */
  outageIntervalMs?: number;
}

export class StoreProbe implements AsyncDisposable {
  readonly #o: StoreProbeOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #otherFailure = false;

  constructor(opts: StoreProbeOptions) {
    this.#o = opts;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Asks the store once and tells the outage what it saw. */
  async probe(): Promise<void> {
    try {
      await this.#o.store.statBlob(PROBE_DIGEST);
      this.#otherFailure = false;
      this.#o.outage.available();
    } catch (err: unknown) {
      if (isStoreOutageFailure(err)) {
        this.#o.outage.unavailable(err);
        return;
      }
      // Another failure (refused credentials, a bug) is not an outage: said once, not repeated.
      if (!this.#otherFailure) this.#o.logger.warn(errorFields(err), "store probe failed");
      this.#otherFailure = true;
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await this.probe();
      const ms =
        this.#o.outage.unavailableSince === undefined
          ? (this.#o.intervalMs ?? 2000)
          : (this.#o.outageIntervalMs ?? 1000);
      await sleep(ms, undefined, { signal }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
