/**
 * The dispatch records (./dispatch-record.ts) of the stages this coordinator waits for, held in
 * memory in front of KV. KV stays the source of truth and every change is still a
 * compare-and-set written through before anyone is told (a claim is granted, a result accepted,
 * only once its write succeeded); what the cache saves is the read before each of them: a KV
 * round trip and a schema check of the whole job per claim, result and lease renewal.
 *
 * Only held keys are cached (a stage an `execute` call waits for, from its start to its end),
 * so memory follows the stages in flight, not every stage ever seen; other keys (a stale result
 * of a finished stage) are read from KV as before. The coordinator is the records' only
 * writer, so the cache is behind KV only when another process wrote: that write makes this
 * one's compare-and-set fail, which drops the entry, and the caller reads KV again.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { KvStore } from "../../shared/ports/index.js";
import { encodeMessage } from "../../shared/protocol/messages.js";
import { readDispatch, type DispatchRecord } from "./dispatch-record.js";

/** A record as read (undefined: unreadable) and the revision that wrote it. */
export interface ReadRecord {
  rec: DispatchRecord | undefined;
  revision: number;
}

export class DispatchRecords {
  readonly #kv: KvStore;
  readonly #log: Logger;
  /** Holders per key: a key is cached while held at least once. */
  readonly #held = new Map<string, number>();
  readonly #cache = new Map<string, ReadRecord>();

  constructor(kv: KvStore, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Caches `key` until a matching {@link release}. */
  hold(key: string): void {
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
  }

  release(key: string): void {
    const n = (this.#held.get(key) ?? 0) - 1;
    if (n > 0) {
      this.#held.set(key, n);
      return;
    }
    this.#held.delete(key);
    this.#cache.delete(key);
  }

  /** Entries cached now (for tests and metrics: follows the stages in flight). */
  get size(): number {
    return this.#cache.size;
  }

  /** The record, from memory when held and known; undefined when KV has none. */
  async read(key: string): Promise<ReadRecord | undefined> {
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const cur = await readDispatch(this.#kv, key, this.#log);
    if (cur !== undefined) this.#remember(key, cur);
    return cur;
  }

  /**
   * Compare-and-set against `revision` (undefined: create); false on a conflict (someone else
   * changed the record: re-read and retry). An error other than a conflict leaves the write's
   * outcome unknown: the entry is dropped, so the next read asks KV.
   */
  async write(key: string, rec: DispatchRecord, revision: number | undefined): Promise<boolean> {
    try {
      const value = encodeMessage(rec);
      const next =
        revision === undefined
          ? await this.#kv.create(key, value)
          : await this.#kv.update(key, value, revision);
      this.#remember(key, { rec, revision: next });
      return true;
    } catch (err: unknown) {
      this.#cache.delete(key);
      const e = StagefarmError.from(err);
      if (e.code === "conflict") return false;
      throw e;
    }
  }

  /** Caches what was read or written, unless the key is not held or a newer revision is known. */
  #remember(key: string, cur: ReadRecord): void {
    if (!this.#held.has(key)) return;
    const known = this.#cache.get(key);
    if (known === undefined || known.revision < cur.revision) this.#cache.set(key, cur);
  }
}
