/**
 * The {@link KvStore} over a JetStream KV bucket (stream `KV_<bucket>`, file storage, history 1
 * by default). Revisions are the bucket stream's sequence numbers; a delete leaves a marker
 * whose revision a later conditional write must name, exactly like `MemoryKvStore`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  StorageType,
  type JetStreamManager,
  type KV,
  type KvEntry as NatsKvEntry,
  type NatsConnection,
  type QueuedIterator,
} from "nats";
import { StagefarmError } from "../errors.js";
import {
  KvConflictError,
  kvClosedError,
  type KvChange,
  type KvEntry,
  type KvStore,
  assertKey,
  assertPrefix,
} from "../ports/index.js";
import { type Logger, silentLogger } from "../log.js";
import { ensureKv } from "./ensure.js";
import { Reconnects } from "./reconnects.js";
import { fromNats, isWrongLastSequence } from "./errors.js";

export interface NatsKvStoreOptions {
  /** Values kept per key (default 1: only the latest). */
  history?: number;
  /** Default "file": the state survives a server restart. */
  storage?: "file" | "memory";
  replicas?: number;
  logger?: Logger;
}

const BUCKET = /^[A-Za-z0-9_-]+$/;

export class NatsKvStore implements KvStore {
  readonly #kv: KV;
  readonly #bucket: string;
  readonly #reconnects: Reconnects;
  readonly #log: Logger;
  readonly #closing = new AbortController();

  readonly #jsm: JetStreamManager;

  private constructor(kv: KV, jsm: JetStreamManager, bucket: string, reconnects: Reconnects, log: Logger) {
    this.#kv = kv;
    this.#jsm = jsm;
    this.#bucket = bucket;
    this.#reconnects = reconnects;
    this.#log = log;
  }

  /** Opens (creating when missing) the bucket `bucket` on `nc`. The connection stays the caller's. */
  static async open(nc: NatsConnection, bucket: string, opts: NatsKvStoreOptions = {}): Promise<NatsKvStore> {
    if (!BUCKET.test(bucket))
      throw new StagefarmError(
        "invalid_argument",
        `invalid KV bucket name "${bucket}": use letters, digits, "_" or "-"`,
      );
    const kv = await ensureKv(nc.jetstream(), bucket, {
      history: opts.history ?? 1,
      storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
      replicas: opts.replicas ?? 1,
    });
    const log = (opts.logger ?? silentLogger()).child({ component: "kv", bucket });
    return new NatsKvStore(kv, await nc.jetstreamManager(), bucket, new Reconnects(nc, log), log);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.#check(key);
    const entry = await this.#call(`reading "${key}"`, () => this.#kv.get(key));
    if (!entry || entry.operation !== "PUT") return undefined;
    return { value: entry.value, revision: entry.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.#check(key);
    return await this.#call(
      `creating "${key}"`,
      () => this.#kv.create(key, value),
      (cause) => new KvConflictError(key, undefined, { cause }),
    );
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    this.#check(key);
    return await this.#call(
      `updating "${key}"`,
      () => this.#kv.update(key, value, expectedRevision),
      (cause) => new KvConflictError(key, expectedRevision, { cause }),
    );
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.#check(key);
    return await this.#call(`writing "${key}"`, () => this.#kv.put(key, value));
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    this.#check(key);
    await this.#call(
      `deleting "${key}"`,
      () =>
        this.#kv.delete(key, expectedRevision === undefined ? undefined : { previousSeq: expectedRevision }),
      (cause) => new KvConflictError(key, expectedRevision, { cause }),
    );
  }

  async keys(prefix: string): Promise<string[]> {
    this.#checkOpen();
    assertPrefix(prefix);
    // Not kv.keys(): nats.js ends that listing only when a message reports nothing pending,
    // which never happens while a key below the prefix keeps being written (seen with 2.9 and
    // nats 2.29: `stagefarm runs` hung during active runs). The stream's per-subject counts are
    // one request; each key is then read, and keys whose last entry is a delete are skipped.
    return await this.#call(`listing keys below "${prefix}"`, async () => {
      const subjectPrefix = `$KV.${this.#bucket}.`;
      const info = await this.#jsm.streams.info(`KV_${this.#bucket}`, {
        subjects_filter: `${subjectPrefix}${filterFor(prefix)}`,
      });
      const keys: string[] = [];
      for (const subject of Object.keys(info.state.subjects ?? {})) {
        const key = subject.slice(subjectPrefix.length);
        const e = await this.#kv.get(key);
        if (e !== null && e.operation === "PUT") keys.push(key);
      }
      return keys.sort();
    });
  }

  async *watch(prefix: string, opts: { signal: AbortSignal }): AsyncIterable<KvChange> {
    this.#checkOpen();
    assertPrefix(prefix);
    const signal = AbortSignal.any([opts.signal, this.#closing.signal]);
    let last = 0; // revision of the last change yielded
    let initialized = false;
    while (!signal.aborted) {
      // First the snapshot; after a reconnect (the server may have restarted and lost the
      // watch's in-memory consumer) every change after the last one seen, deletes included.
      const resume = last > 0;
      let iter: QueuedIterator<NatsKvEntry>;
      try {
        iter = await this.#call(`watching keys below "${prefix}"`, () =>
          this.#kv.watch({
            key: filterFor(prefix),
            // Runs in order, after the last entry of the initial snapshot.
            initializedFn: () => (initialized = true),
            ...(resume ? { resumeFromRevision: last + 1 } : {}),
          }),
        );
      } catch (err: unknown) {
        // A resumed watch outlives a server that is still starting: retry while it is unavailable.
        if (!resume || !(err instanceof StagefarmError) || err.code !== "unavailable") throw err;
        this.#log.warn({ prefix, err }, "resuming a KV watch failed, retrying");
        await sleep(250, undefined, { signal }).catch(() => undefined);
        continue;
      }
      let reconnected = false;
      const stop = (): void => iter.stop();
      const unsubscribe = this.#reconnects.subscribe(() => {
        reconnected = true;
        iter.stop();
      });
      signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const e of iter) {
          if (signal.aborted || reconnected) break;
          if (e.revision <= last) continue;
          const initial = !resume && !initialized;
          if (e.delta === 0) initialized = true;
          last = e.revision;
          if (e.operation === "PUT") yield { op: "put", key: e.key, value: e.value, revision: e.revision };
          else if (!initial) yield { op: "del", key: e.key, revision: e.revision };
        }
      } catch (err: unknown) {
        if (!signal.aborted && !reconnected)
          throw fromNats(err, `watching keys below "${prefix}" in KV bucket ${this.#bucket}`);
      } finally {
        signal.removeEventListener("abort", stop);
        unsubscribe();
        iter.stop();
      }
      if (!reconnected) return;
    }
  }

  close(): Promise<void> {
    this.#closing.abort();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted) throw kvClosedError(`KV bucket ${this.#bucket}`);
  }

  #check(key: string): void {
    this.#checkOpen();
    assertKey(key);
  }

  async #call<T>(
    what: string,
    op: () => Promise<T>,
    conflict?: (cause: unknown) => StagefarmError,
  ): Promise<T> {
    try {
      return await op();
    } catch (err: unknown) {
      if (conflict && isWrongLastSequence(err)) throw conflict(err);
      throw fromNats(err, `${what} in KV bucket ${this.#bucket}`);
    }
  }
}

function filterFor(prefix: string): string {
  return prefix === "" ? ">" : `${prefix}.>`;
}
