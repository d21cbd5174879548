/**
 * Runs tasks concurrently across keys and one after another within a key, at most `max` at
 * once: how the coordinator applies agent events (one lane per stage, so a stage's events apply
 * in the order they were stored while different stages' compare-and-sets overlap instead of
 * queueing behind each other's KV round trip).
 */
export class KeyedLanes {
  readonly #max: number;
  readonly #onError: (err: unknown, key: string) => void;
  /** The last task of each key with one queued or running. */
  readonly #tails = new Map<string, Promise<void>>();
  readonly #waiting: Array<() => void> = [];
  #pending = 0;

  constructor(max: number, onError: (err: unknown, key: string) => void) {
    this.#max = Math.max(1, max);
    this.#onError = onError;
  }

  /** Tasks queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues `task` behind the key's earlier tasks; resolves once it is admitted (fewer than `max` pending). */
  async add(key: string, task: () => Promise<void>): Promise<void> {
    while (this.#pending >= this.#max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#pending++;
    const run = async (): Promise<void> => {
      try {
        await task();
      } catch (err: unknown) {
        this.#onError(err, key);
      }
    };
    const tail = (this.#tails.get(key) ?? Promise.resolve()).then(run).finally(() => {
      this.#pending--;
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
      this.#waiting.shift()?.();
    });
    this.#tails.set(key, tail);
  }

  /** Resolves when every task added so far has ended. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.allSettled([...this.#tails.values()]);
  }
}
