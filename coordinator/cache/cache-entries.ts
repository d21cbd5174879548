/**
 * The action-cache operations `stagefarm cache` offers, written once over the store port: the
 * CLI runs them on a local store, the coordinator's API on the farm's (its single writer).
 */
import { isDigest, type Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { ArtifactStore, Manifest } from "../../shared/store/index.js";
import { quoted } from "../../shared/util/excerpt.js";
import { lookupCache } from "../engine/cache-lookup.js";

/** Keys (or prefixes) one request may name. */
export const MAX_CACHE_KEYS = 1000;

export interface EntryFilter {
  pipeline?: string;
  stage?: string;
}

/** Every entry (of a pipeline, a stage), oldest first. */
export async function listEntries(store: ArtifactStore, filter: EntryFilter = {}): Promise<Manifest[]> {
  const all: Manifest[] = [];
  for await (const m of store.listManifests())
    if (
      (filter.pipeline === undefined || m.pipeline === filter.pipeline) &&
      (filter.stage === undefined || m.stage === filter.stage)
    )
      all.push(m);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.key.localeCompare(b.key));
}

function checkCount(n: number, what: string): void {
  if (n > MAX_CACHE_KEYS)
    throw new StagefarmError("invalid_argument", `${n} ${what} in one request; at most ${MAX_CACHE_KEYS}`);
}

/** The entries named by whole keys or unique prefixes, resolved from one listing; all or none. */
export async function findEntries(store: ArtifactStore, prefixes: readonly string[]): Promise<Manifest[]> {
  checkCount(prefixes.length, "keys");
  for (const p of prefixes)
    if (!/^[0-9a-f]{4,64}$/.test(p))
      throw new StagefarmError(
        "invalid_argument",
        `${quoted(p, 70)} is not a cache key (at least 4 hex characters)`,
      );
  const found = new Map<string, Manifest[]>(prefixes.map((p) => [p, []]));
  for await (const m of store.listManifests())
    for (const [p, list] of found) if (m.key.startsWith(p)) list.push(m);
  return prefixes.map((p) => {
    const list = found.get(p) ?? [];
    const [m] = list;
    if (m === undefined) throw new StagefarmError("not_found", `no cache entry with key ${p}…`);
    if (list.length > 1)
      throw new StagefarmError(
        "invalid_argument",
        `key prefix ${p} is ambiguous: ${list.map((x) => x.key.slice(0, 12)).join(", ")}`,
      );
    return m;
  });
}

/** Removes the entries named (every one is resolved first: one typo removes nothing). */
export async function removeEntries(store: ArtifactStore, prefixes: readonly string[]): Promise<Manifest[]> {
  const found = await findEntries(store, prefixes);
  const unique = [...new Map(found.map((m) => [m.key, m])).values()];
  for (const m of unique) await store.deleteManifest(m.key);
  return unique;
}

/** A hit without repairs (a reader of a store it must not change): a broken entry is a miss. */
async function peekCache(store: ArtifactStore, key: Digest): Promise<Manifest | undefined> {
  let m: Manifest | undefined;
  try {
    m = await store.getManifest(key);
  } catch (err: unknown) {
    if (StagefarmError.from(err).code === "corrupt_artifact") return undefined;
    throw err;
  }
  if (m === undefined) return undefined;
  for (const out of Object.values(m.outputs))
    if ((await store.statBlob(out.digest))?.size !== out.size) return undefined;
  return m;
}

/**
 * The entries the cache holds for `keys`, as the engine would find them (a broken one is a
 * miss). `log` given: as the engine, a broken entry is also removed; absent: nothing changes.
 */
export async function lookupEntries(
  store: ArtifactStore,
  keys: readonly string[],
  log: Logger | undefined,
): Promise<Manifest[]> {
  checkCount(keys.length, "keys");
  const checked: Digest[] = keys.map((k) => {
    if (!isDigest(k))
      throw new StagefarmError(
        "invalid_argument",
        `${quoted(k, 70)} is not a cache key (64 lowercase hex characters)`,
      );
    return k;
  });
  const hits: Manifest[] = [];
  for (const key of new Set(checked)) {
    const m = log === undefined ? await peekCache(store, key) : await lookupCache(store, key, log);
    if (m !== undefined) hits.push(m);
  }
  return hits;
}
