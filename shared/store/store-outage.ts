/**
 * Riding out a store outage. A store whose requests keep failing the way a stopped or
 * unreachable server fails (connection refused, 5xx: ./s3-errors.ts calls them transient) is
 * *unavailable*; every store operation of the process goes on retrying, with backoff, until
 * the store answers again or the outage has lasted longer than the budget. The outage, not the
 * operation, owns the clock: an operation started late in an outage gets only what is left of
 * the budget, and one success anywhere ends the outage for everyone.
 *
 * Only failures of the store itself are retried here; a missing object, refused credentials,
 * a digest mismatch or a local disk error go straight to the caller. When the budget is spent
 * the operation fails with `unavailable` and a message that names the outage and the budget
 * (details `storeOutage: true`), so a stage that ends `failed` for it says so; that error is
 * never retried again by an outer layer.
 *
 * Listeners hear when an outage begins and ends (the coordinator's dispatch gate and metrics).
 *
 * The same clock serves other infrastructure: `name` and `isFailure` make an outage of NATS
 * (shared/nats/outage-kv.ts: the coordinator's KV writes during a leader election or a restart).
 * (No import of the S3 modules: they load the minio client, which the embedded farm never needs.)
 */
import { StagefarmError } from "../errors.js";
import { errorFields, type Logger } from "../log.js";
import { formatDuration } from "../util/duration.js";

export interface StoreOutageOptions {
  /** How long an outage may last before operations give up (ms). */
  budgetMs: number;
  /** First wait between tries of one operation; it doubles up to `maxBackoffMs` (default 500 ms). */
  baseBackoffMs?: number;
  /** Longest wait between tries (default 15 s). */
  maxBackoffMs?: number;
  logger?: Logger;
  /** Clock (ms since the epoch), for tests. */
  now?: () => number;
  /** Waits `ms` or rejects when `signal` aborts, for tests. */
  wait?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  random?: () => number;
  /** What is unavailable, in messages (default "store"). */
  name?: string;
  /** Whether an error is this outage's (default {@link isStoreOutageFailure}). */
  isFailure?: (err: unknown) => boolean;
}

/** `undefined`: the store answers; a number: unavailable since then (ms since the epoch). */
export type StoreOutageListener = (unavailableSince: number | undefined) => void;

/**
 * Whether `err` (or a StagefarmError in its cause chain) is the store failing the way an outage
 * does: the S3 store's `unavailable` errors name the store (./s3-errors.ts toS3StoreError),
 * after its own per-request retries. A spent budget is not (it must not be retried again).
 */
export function isStoreOutageFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof StagefarmError && depth < 8; depth++) {
    if (isOutageSpent(e) || e.code === "cancelled") return false;
    if (e.code === "unavailable" && typeof e.details["store"] === "string") return true;
    e = e.cause;
  }
  return false;
}

/** Whether `err` is the error of a spent outage budget (any outage): never retried again. */
export function isOutageSpent(err: StagefarmError): boolean {
  return err.details["storeOutage"] === true || err.details["outageSpent"] === true;
}

/** Exponential backoff with jitter in [50 %, 100 %] (the S3 store's own, ./s3-retry.ts). */
function backoff(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(retry, 30));
  return Math.round(full / 2 + (full / 2) * random());
}

export class StoreOutage {
  readonly budgetMs: number;
  readonly #o: StoreOutageOptions;
  readonly #now: () => number;
  readonly #listeners = new Set<StoreOutageListener>();
  readonly #name: string;
  readonly #isFailure: (err: unknown) => boolean;
  #since: number | undefined;

  constructor(opts: StoreOutageOptions) {
    if (!Number.isFinite(opts.budgetMs) || opts.budgetMs < 0)
      throw new StagefarmError("invalid_argument", `invalid store outage budget ${opts.budgetMs}`);
    this.#o = opts;
    this.budgetMs = opts.budgetMs;
    this.#now = opts.now ?? Date.now;
    this.#name = opts.name ?? "store";
    this.#isFailure = opts.isFailure ?? isStoreOutageFailure;
  }

  /** When the current outage began, or undefined when the store answers. */
  get unavailableSince(): number | undefined {
    return this.#since;
  }

  /** `store unavailable since <ISO time>`, or undefined when it answers. */
  describe(): string | undefined {
    return this.#since === undefined
      ? undefined
      : `${this.#name} unavailable since ${new Date(this.#since).toISOString()}`;
  }

  onChange(listener: StoreOutageListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The store answered (any request succeeded): ends the outage, if there was one. */
  available(): void {
    if (this.#since === undefined) return;
    const lastedMs = this.#now() - this.#since;
    this.#since = undefined;
    this.#o.logger?.info({ lastedMs }, `${this.#name} available again after ${formatDuration(lastedMs)}`);
    this.#emit();
  }

  /** A request failed the way an outage does: begins the outage, if none is going on. */
  unavailable(err: unknown): void {
    if (this.#since !== undefined) return;
    this.#since = this.#now();
    this.#o.logger?.warn(
      { ...errorFields(err), budgetMs: this.budgetMs },
      `${this.#name} unavailable; retrying within the outage budget`,
    );
    this.#emit();
  }

  /**
   * Runs `fn` until it succeeds or fails otherwise than by an outage; while the store is
   * unavailable, tries again with backoff until the outage has lasted `budgetMs`. `what` names
   * the operation in the error of a spent budget.
   */
  async run<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let retry = 0; ; retry++) {
      if (signal?.aborted)
        throw new StagefarmError("cancelled", `${what}: cancelled`, { cause: signal.reason });
      let failure: unknown;
      try {
        const v = await fn();
        this.available();
        return v;
      } catch (err: unknown) {
        if (!this.#isFailure(err)) throw err;
        failure = err;
      }
      this.unavailable(failure);
      const since = this.#since ?? this.#now();
      const lastedMs = this.#now() - since;
      const leftMs = this.budgetMs - lastedMs;
      if (leftMs <= 0) throw this.#spent(what, since, lastedMs, failure);
      const { baseBackoffMs = 500, maxBackoffMs = 15_000, random = Math.random } = this.#o;
      const delayMs = Math.min(leftMs, backoff(retry, baseBackoffMs, maxBackoffMs, random));
      this.#o.logger?.debug({ what, retry: retry + 1, delayMs }, `${this.#name} unavailable; trying again`);
      try {
        await (this.#o.wait ?? defaultWait)(delayMs, signal);
      } catch (abort: unknown) {
        throw new StagefarmError("cancelled", `${what}: cancelled while the ${this.#name} was unavailable`, {
          cause: abort,
        });
      }
    }
  }

  #spent(what: string, since: number, lastedMs: number, cause: unknown): StagefarmError {
    const last = StagefarmError.from(cause).message;
    return new StagefarmError(
      "unavailable",
      `${what}: ${this.#name} outage longer than the outage budget: unavailable since ${new Date(since).toISOString()} ` +
        `(${formatDuration(lastedMs)}, budget ${formatDuration(this.budgetMs)}); last error: ${last}`,
      {
        cause,
        details: {
          ...(this.#name === "store" ? { storeOutage: true } : {}),
          outage: this.#name,
          outageSpent: true,
          unavailableSince: since,
          outageBudgetMs: this.budgetMs,
        },
      },
    );
  }

  #emit(): void {
    for (const l of this.#listeners) {
      try {
        l(this.#since);
      } catch (err: unknown) {
        this.#o.logger?.error(errorFields(err), "store outage listener threw");
      }
    }
  }
}

/** Waits `ms`; rejects when `signal` aborts (the timer is cleared either way). */
function defaultWait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(StagefarmError.from(signal.reason, "cancelled"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(StagefarmError.from(signal?.reason, "cancelled"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
