/**
 * A {@link KvStore} that rides out a NATS outage (a KV leader election, a restarting server):
 * every call that fails the way an outage does (`unavailable`, timeouts included:
 * ./errors.ts isNatsOutageFailure) is tried again through a shared outage clock
 * (shared/store/store-outage.ts, named "NATS") until NATS answers or the budget is spent.
 *
 * A failed write may have been applied all the same (the reply was lost, or the request timed
 * out after the leader stored it), so compare-and-set stays exact across tries:
 * - `create` and `update` tried again after such a failure that now lose their compare-and-set
 *   read the key: when it holds exactly the bytes this call wrote (at a later revision than the
 *   expected one), the earlier try succeeded and its revision is returned; else the conflict
 *   stands. Values are records with random tokens and clocks: equal bytes are this write's.
 * - `delete` with a revision tried again that now conflicts: an absent key was deleted by it.
 * Watches pass through (the NATS store resumes them itself after a reconnect).
 * (No import of the `nats` client: the coordinator uses this in the embedded farm too.)
 */
import { StagefarmError } from "../errors.js";
import type { KvChange, KvEntry, KvStore } from "../ports/index.js";
import type { StoreOutage } from "../store/index.js";

/**
 * Whether `err` (or a StagefarmError in its cause chain) is NATS failing the way an outage does
 * (a leader election, a restarting or unreachable server: `unavailable` from ./errors.ts fromNats,
 * timeouts included); a spent outage budget is not (it must not be retried again).
 */
export function isNatsOutageFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof StagefarmError && depth < 8; depth++) {
    if (e.details["outageSpent"] === true || e.code === "cancelled") return false;
    if (e.code === "unavailable" && typeof e.details["natsCode"] === "string") return true;
    e = e.cause;
  }
  return false;
}

/** The part of {@link StoreOutage} this needs. */
export type KvOutage = Pick<StoreOutage, "run">;

export class OutageTolerantKv implements KvStore {
  constructor(
    private readonly kv: KvStore,
    private readonly outage: KvOutage,
  ) {}

  get(key: string): Promise<KvEntry | undefined> {
    return this.outage.run(`reading KV key "${key}"`, () => this.kv.get(key));
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.outage.run(`writing KV key "${key}"`, () => this.kv.put(key, value));
  }

  keys(prefix: string): Promise<string[]> {
    return this.outage.run(`listing KV keys below "${prefix}"`, () => this.kv.keys(prefix));
  }

  create(key: string, value: Uint8Array): Promise<number> {
    let tried = false;
    return this.outage.run(`creating KV key "${key}"`, async () => {
      const first = !tried;
      tried = true;
      try {
        return await this.kv.create(key, value);
      } catch (err: unknown) {
        if (first || !isConflict(err)) throw err;
        const mine = await this.ownWrite(key, value, 0);
        if (mine === undefined) throw err;
        return mine;
      }
    });
  }

  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    let tried = false;
    return this.outage.run(`updating KV key "${key}"`, async () => {
      const first = !tried;
      tried = true;
      try {
        return await this.kv.update(key, value, expectedRevision);
      } catch (err: unknown) {
        if (first || !isConflict(err)) throw err;
        const mine = await this.ownWrite(key, value, expectedRevision);
        if (mine === undefined) throw err;
        return mine;
      }
    });
  }

  delete(key: string, expectedRevision?: number): Promise<void> {
    let tried = false;
    return this.outage.run(`deleting KV key "${key}"`, async () => {
      const first = !tried;
      tried = true;
      try {
        await this.kv.delete(key, expectedRevision);
      } catch (err: unknown) {
        if (first || !isConflict(err) || (await this.kv.get(key)) !== undefined) throw err;
      }
    });
  }

  watch(prefix: string, opts: { signal: AbortSignal }): AsyncIterable<KvChange> {
    return this.kv.watch(prefix, opts);
  }

  close(): Promise<void> {
    return this.kv.close();
  }

  /** The revision of `key` when it holds exactly `value`, written after `after`; else undefined. */
  private async ownWrite(key: string, value: Uint8Array, after: number): Promise<number | undefined> {
    const cur = await this.kv.get(key);
    return cur !== undefined && cur.revision > after && sameBytes(cur.value, value)
      ? cur.revision
      : undefined;
  }
}

function isConflict(err: unknown): err is StagefarmError {
  return err instanceof StagefarmError && err.code === "conflict";
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
