/**
 * Changes to a binhost other than publication: remove, gc, settings. Each runs under the
 * binhost's lock (the caller, ./binhost-service.ts, holds it) on the state it loads, and drops
 * index entries (an index write) before it deletes their objects, so the index never names a
 * missing package.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { planGc, type GcCandidate } from "./gc-plan.js";
import { checkHeaderSettings } from "./header.js";
import type { BinhostSettings } from "./meta.js";
import { BINHOST_PREFIX, isPackagePath, objectPath } from "./paths.js";
import { BinhostState } from "./state.js";

export interface RemoveReport {
  binhost: string;
  removed: string[];
  timestamp: number;
}

export interface BinhostGcReport {
  binhost: string;
  dryRun: boolean;
  keep: number;
  /** Builds dropped from the index (and their objects deleted). */
  removed: GcCandidate[];
  /** Package objects no index entry names, older than the grace period. */
  orphans: string[];
  kept: number;
  bytesFreed: number;
  timestamp: number;
}

export interface SettingsPatch {
  /** Header keys to set; null removes one. */
  header?: Record<string, string | null>;
  priority?: number;
  verifySignature?: boolean;
  location?: string | null;
}

async function loadExisting(store: ArtifactStore, name: string): Promise<BinhostState> {
  const state = await BinhostState.load(store, name);
  if (!state.exists) throw new StagefarmError("not_found", `no binhost "${name}"`);
  return state;
}

async function deleteObjects(store: ArtifactStore, name: string, paths: readonly string[]): Promise<void> {
  for (const p of paths) await store.deleteObject(objectPath(name, p));
}

/** Removes one package (its PATH) or every build of a CPV. */
export async function removePackages(
  store: ArtifactStore,
  name: string,
  pathOrCpv: string,
): Promise<RemoveReport> {
  const state = await loadExisting(store, name);
  const target = pathOrCpv.replace(/^\/+/, "");
  const paths = state.packages.has(target)
    ? [target]
    : [...state.packages.values()].filter((p) => p.CPV === target).map((p) => p.PATH ?? "");
  if (paths.length === 0)
    throw new StagefarmError(
      "not_found",
      `binhost "${name}" has no package with PATH or CPV "${pathOrCpv}" (see stagefarm binhost show ${name})`,
    );
  state.drop(paths);
  const timestamp = await state.write(store);
  await deleteObjects(store, name, paths);
  return { binhost: name, removed: paths.sort(), timestamp };
}

/** Package files below the binhost that no index entry names, older than `graceMs`. */
async function orphans(
  store: ArtifactStore,
  state: BinhostState,
  now: Date,
  graceMs: number,
): Promise<Array<{ path: string; size: number }>> {
  const prefix = `${BINHOST_PREFIX}${state.name}/`;
  const out: Array<{ path: string; size: number }> = [];
  for await (const o of store.listObjects(prefix)) {
    const rel = o.path.slice(prefix.length);
    if (!isPackagePath(rel) || state.packages.has(rel)) continue;
    if (now.getTime() - o.mtime.getTime() < graceMs) continue;
    out.push({ path: rel, size: o.size });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Keeps the newest `keep` builds per CPV and USE; a dry run reports what the gc would remove. */
export async function collectBinhost(
  store: ArtifactStore,
  name: string,
  opts: { keep: number; dryRun: boolean; now: Date; orphanGraceMs: number },
): Promise<BinhostGcReport> {
  const state = await loadExisting(store, name);
  const plan = planGc([...state.packages.values()], opts.keep);
  const unindexed = await orphans(store, state, opts.now, opts.orphanGraceMs);
  let timestamp = state.timestamp;
  if (!opts.dryRun) {
    if (plan.remove.length > 0) {
      state.drop(plan.remove.map((c) => c.path));
      timestamp = await state.write(store);
    }
    await deleteObjects(store, name, [...plan.remove.map((c) => c.path), ...unindexed.map((o) => o.path)]);
  }
  return {
    binhost: name,
    dryRun: opts.dryRun,
    keep: opts.keep,
    removed: plan.remove,
    orphans: unindexed.map((o) => o.path),
    kept: plan.keep.length,
    bytesFreed: plan.remove.reduce((a, c) => a + c.size, 0) + unindexed.reduce((a, o) => a + o.size, 0),
    timestamp,
  };
}

/** Changes the settings; the index is rewritten (its header carries the configured keys). */
export async function configureBinhost(
  store: ArtifactStore,
  name: string,
  patch: SettingsPatch,
): Promise<BinhostSettings> {
  const state = await BinhostState.load(store, name);
  const s = state.meta.settings;
  const header = { ...s.header };
  for (const [k, v] of Object.entries(patch.header ?? {}))
    if (v === null) delete header[k];
    else header[k] = v;
  checkHeaderSettings(header);
  if (patch.priority !== undefined && !Number.isSafeInteger(patch.priority))
    throw new StagefarmError("invalid_argument", `priority must be an integer, got ${patch.priority}`);
  if (patch.location !== undefined && patch.location !== null && !patch.location.startsWith("/"))
    throw new StagefarmError(
      "invalid_argument",
      `location must be an absolute path, got "${patch.location}"`,
    );
  s.header = header;
  if (patch.priority !== undefined) s.priority = patch.priority;
  if (patch.verifySignature !== undefined) s.verifySignature = patch.verifySignature;
  if (patch.location === null) delete s.location;
  else if (patch.location !== undefined) s.location = patch.location;
  state.changed = true;
  await state.write(store);
  return s;
}
