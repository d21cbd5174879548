/**
 * The in-process {@link KvStore}: a map of keys to values and revisions, with one revision
 * counter for the whole store and deleted keys kept as tombstones (their revision is what a
 * conditional write after the delete must name), like a JetStream KV bucket with history 1.
 */
import { KvConflictError, kvClosedError, type KvChange, type KvEntry, type KvStore } from "./kv.js";
import { assertKey, assertPrefix, isBelow } from "./names.js";
import { Notifier } from "./notifier.js";
import { settle } from "./settle.js";

interface Slot {
  value: Uint8Array | undefined; // undefined: deleted
  revision: number;
}

interface Watcher {
  prefix: string;
  buffer: KvChange[];
  notifier: Notifier;
}

export class MemoryKvStore implements KvStore {
  readonly #slots = new Map<string, Slot>();
  readonly #watchers = new Set<Watcher>();
  readonly #closing = new AbortController();
  #revision = 0;

  /**
   * An empty store, or one holding `initial` (entries with their revisions; the revision
   * counter goes on from `revision`, or from the largest entry's): how ./file-kv.ts reopens.
   */
  constructor(initial?: { entries: Iterable<[string, KvEntry]>; revision: number }) {
    if (initial === undefined) return;
    for (const [key, e] of initial.entries) {
      assertKey(key);
      this.#slots.set(key, { value: e.value.slice(), revision: e.revision });
      this.#revision = Math.max(this.#revision, e.revision);
    }
    this.#revision = Math.max(this.#revision, initial.revision);
  }

  /** Called with every write (a put or a delete) as it is applied; ./file-kv.ts journals it. */
  protected written(_change: KvChange): void {}

  get(key: string): Promise<KvEntry | undefined> {
    return settle(() => {
      this.#check(key);
      const slot = this.#slots.get(key);
      return slot?.value === undefined ? undefined : { value: slot.value.slice(), revision: slot.revision };
    });
  }

  create(key: string, value: Uint8Array): Promise<number> {
    return settle(() => {
      this.#check(key);
      if (this.#slots.get(key)?.value !== undefined) throw new KvConflictError(key, undefined);
      return this.#write(key, value);
    });
  }

  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    return settle(() => {
      this.#check(key);
      if (this.#slots.get(key)?.revision !== expectedRevision)
        throw new KvConflictError(key, expectedRevision);
      return this.#write(key, value);
    });
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return settle(() => {
      this.#check(key);
      return this.#write(key, value);
    });
  }

  delete(key: string, expectedRevision?: number): Promise<void> {
    return settle(() => {
      this.#check(key);
      if (expectedRevision !== undefined && this.#slots.get(key)?.revision !== expectedRevision)
        throw new KvConflictError(key, expectedRevision);
      this.#write(key, undefined);
    });
  }

  keys(prefix: string): Promise<string[]> {
    return settle(() => {
      this.#checkOpen();
      assertPrefix(prefix);
      const keys: string[] = [];
      for (const [key, slot] of this.#slots)
        if (slot.value !== undefined && isBelow(key, prefix)) keys.push(key);
      return keys.sort();
    });
  }

  async *watch(prefix: string, opts: { signal: AbortSignal }): AsyncIterable<KvChange> {
    this.#checkOpen();
    assertPrefix(prefix);
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    // Snapshot and registration happen in one synchronous step: no write can fall between.
    const initial = [...this.#slots]
      .filter(([key, slot]) => slot.value !== undefined && isBelow(key, prefix))
      .sort(([, a], [, b]) => a.revision - b.revision)
      .map(([key, slot]): KvChange => ({ op: "put", key, value: copy(slot.value), revision: slot.revision }));
    const watcher: Watcher = { prefix, buffer: initial, notifier: new Notifier() };
    this.#watchers.add(watcher);
    try {
      while (!signal.aborted) {
        const change = watcher.buffer.shift();
        if (change) yield change;
        else await watcher.notifier.wait(signal);
      }
    } finally {
      this.#watchers.delete(watcher);
    }
  }

  close(): Promise<void> {
    this.#closing.abort();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted) throw kvClosedError("the in-memory KV store");
  }

  #check(key: string): void {
    this.#checkOpen();
    assertKey(key);
  }

  #write(key: string, value: Uint8Array | undefined): number {
    this.#revision += 1;
    const revision = this.#revision;
    this.#slots.set(key, { value: value?.slice(), revision });
    this.written(value === undefined ? { op: "del", key, revision } : { op: "put", key, value, revision });
    for (const w of this.#watchers) {
      if (!isBelow(key, w.prefix)) continue;
      w.buffer.push(
        value === undefined
          ? { op: "del", key, revision }
          : { op: "put", key, value: value.slice(), revision },
      );
      w.notifier.notify();
    }
    return revision;
  }
}

function copy(value: Uint8Array | undefined): Uint8Array {
  return value === undefined ? new Uint8Array() : value.slice();
}
