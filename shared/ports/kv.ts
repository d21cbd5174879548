/**
 * The KV state port: the coordinator's durable state (runs, stage records, leases), one value
 * per key with a revision. Compare-and-set on the revision is how the coordinator fences
 * results: a result is accepted only by an `update` against the revision the decision was
 * based on, so of two concurrent writers exactly one wins.
 *
 * Glossary:
 * - **key**: dot-separated tokens (`runs.<run>`, `stages.<run>.<stage>`), see `names.ts`;
 * - **revision**: a positive number that grows with every write to the store (any key), so
 *   `a.revision < b.revision` means `a` was written first. A delete also takes a revision;
 * - **prefix**: selects the keys strictly below it (`""` = all keys).
 *
 * Implementations: `MemoryKvStore` (embedded mode, tests), `FileKvStore` (the same, journaled
 * to a file: `stagefarm up`) and `NatsKvStore` (a JetStream KV bucket). All pass
 * `test/conformance/kv.ts`.
 */
import { StagefarmError } from "../errors.js";

/** A stored value and the revision that wrote it. */
export interface KvEntry {
  value: Uint8Array;
  revision: number;
}

/** One change seen by {@link KvStore.watch}. */
export type KvChange =
  | { op: "put"; key: string; value: Uint8Array; revision: number }
  | { op: "del"; key: string; revision: number };

export interface KvStore {
  /** The current value of `key`, or `undefined` when it does not exist or was deleted. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes `key` only if it does not exist (or was deleted); returns the new revision. Throws {@link KvConflictError} otherwise. */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `key` only if its latest revision is `expectedRevision` (compare-and-set); returns
   * the new revision. Throws {@link KvConflictError} when another write came first.
   */
  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number>;
  /** Writes `key` unconditionally; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Deletes `key` (deleting an absent key is not an error). With `expectedRevision`, only if
   * the key's latest revision is that one, else {@link KvConflictError}.
   */
  delete(key: string, expectedRevision?: number): Promise<void>;
  /** The existing keys strictly below `prefix` (`""`: all keys), sorted. */
  keys(prefix: string): Promise<string[]>;
  /**
   * Every existing key below `prefix` with its current value (`op: "put"`, in revision order),
   * then every later put and delete as it happens. Ends, without error, when `opts.signal`
   * fires, the loop breaks or the store is closed.
   */
  watch(prefix: string, opts: { signal: AbortSignal }): AsyncIterable<KvChange>;
  /** Ends open watches; later calls fail with `cancelled`. Idempotent. Does not close a shared connection. */
  close(): Promise<void>;
}

/** A compare-and-set lost: the key changed (or appeared) since the caller read it. */
export class KvConflictError extends StagefarmError {
  constructor(key: string, expectedRevision: number | undefined, opts: { cause?: unknown } = {}) {
    super(
      "conflict",
      expectedRevision === undefined
        ? `KV key "${key}" already exists`
        : `KV key "${key}" is no longer at revision ${expectedRevision}: it was changed concurrently`,
      { cause: opts.cause, details: { key, expectedRevision } },
    );
    this.name = "KvConflictError";
  }
}

/** The error for any call on a closed store. */
export function kvClosedError(what: string): StagefarmError {
  return new StagefarmError("cancelled", `${what} is closed`);
}
