/**
 * Serialises the writers of each binhost inside one process (a mutex per name; between
 * processes the BinhostService also holds the store's lock, ./binhost-service.ts).
 *
 * Batching: publications that queue up while a write is in progress are handed to the next
 * write together, so N concurrent publishers cost far fewer than N index writes. Exclusive
 * operations (remove, gc, settings) run alone, in submission order with the batches around
 * them. One key's queue never blocks another key's.
 */
import { StagefarmError } from "../../shared/errors.js";

export interface BatchEntry<I, R> {
  readonly item: I;
  resolve(result: R): void;
  reject(err: unknown): void;
}

type Queued<I, R> = { t: "batch"; entry: BatchEntry<I, R> } | { t: "exclusive"; run: () => Promise<void> };

interface KeyState<I, R> {
  pending: Queued<I, R>[];
  draining: Promise<void> | undefined;
}

export class KeyedWriteQueue<I, R> {
  readonly #keys = new Map<string, KeyState<I, R>>();

  /** `process` settles every entry of a batch; entries it leaves unsettled get its error. */
  constructor(private readonly process: (key: string, batch: BatchEntry<I, R>[]) => Promise<void>) {}

  /** Queues an item for the next batch write of `key`. */
  submit(key: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#push(key, { t: "batch", entry: { item, resolve, reject } });
    });
  }

  /** Runs `fn` alone among the writers of `key`. */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#push(key, { t: "exclusive", run: () => fn().then(resolve, reject) });
    });
  }

  /** Resolves when nothing is queued or running for any key. */
  async idle(): Promise<void> {
    while (true) {
      const running = [...this.#keys.values()].map((s) => s.draining).filter((d) => d !== undefined);
      if (running.length === 0) return;
      await Promise.allSettled(running);
    }
  }

  #push(key: string, q: Queued<I, R>): void {
    let state = this.#keys.get(key);
    if (state === undefined) this.#keys.set(key, (state = { pending: [], draining: undefined }));
    state.pending.push(q);
    if (state.draining === undefined) this.#start(key, state);
  }

  #start(key: string, state: KeyState<I, R>): void {
    state.draining = this.#drain(key, state).finally(() => {
      state.draining = undefined;
      // Something queued between the last check and now: keep going, in order.
      if (state.pending.length > 0) this.#start(key, state);
      else this.#keys.delete(key);
    });
  }

  async #drain(key: string, state: KeyState<I, R>): Promise<void> {
    // Let publishers that are about to queue (same tick) join the first batch.
    await Promise.resolve();
    while (state.pending.length > 0) {
      const head = state.pending[0];
      if (head?.t === "exclusive") {
        state.pending.shift();
        await head.run();
        continue;
      }
      const batch: BatchEntry<I, R>[] = [];
      while (state.pending[0]?.t === "batch")
        batch.push((state.pending.shift() as { entry: BatchEntry<I, R> }).entry);
      await this.#runBatch(key, batch);
    }
  }

  async #runBatch(key: string, batch: BatchEntry<I, R>[]): Promise<void> {
    const settled = new Set<BatchEntry<I, R>>();
    const tracked = batch.map((e): BatchEntry<I, R> => ({
      item: e.item,
      resolve: (r) => {
        settled.add(e);
        e.resolve(r);
      },
      reject: (err) => {
        settled.add(e);
        e.reject(err);
      },
    }));
    try {
      await this.process(key, tracked);
    } catch (err: unknown) {
      for (const e of batch) if (!settled.has(e)) e.reject(err);
      return;
    }
    for (const e of batch)
      if (!settled.has(e))
        e.reject(new StagefarmError("internal", `binhost "${key}": a write left a request unanswered`));
  }
}
