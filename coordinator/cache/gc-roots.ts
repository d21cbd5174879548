/**
 * What a farm's `cache gc` keeps besides the blobs and logs of kept cache entries (the roots
 * of shared/store/gc.ts):
 * - releases and release pointers: every digest they name ({@link releaseRoots}, the one place
 *   the releases are wired in);
 * - recent runs: every run still running, or finished less than `keepRunsForMs` ago (the
 *   window of `stagefarm cache gc --keep-runs-for`, default {@link DEFAULT_KEEP_RUNS_FOR_MS}):
 *   the outputs of its stages, the `artifact:` inputs it was submitted with (an imported seed),
 *   and the logs of every attempt, so `get`, `logs` and `retry` keep working for them. Runs
 *   are not pruned from the coordinator's state; older runs simply stop holding anything.
 */
import { logPathFor } from "../../shared/job.js";
import { parsePipeline, resolvePipeline, type ResolvedStage } from "../../shared/pipeline/index.js";
import { combineRoots, type ArtifactStore, type GcRootSource } from "../../shared/store/index.js";
import { StagefarmError, throwIfAborted } from "../../shared/errors.js";
import type { RunDoc } from "../service/run-doc.js";
import { releaseRootDigests } from "../../shared/release/index.js";

export const DEFAULT_KEEP_RUNS_FOR_MS = 7 * 86_400_000;

/** The roots of `store`'s releases and pointers. */
export function releaseRoots(store: ArtifactStore): GcRootSource {
  return async (signal) => ({ digests: await releaseRootDigests(store, signal), logs: new Set() });
}

/** Whether a run still holds what it made: running, or finished within the window. */
export function isRecentRun(doc: RunDoc, nowMs: number, keepRunsForMs: number): boolean {
  return doc.status === "running" || nowMs - (doc.finishedAt ?? doc.createdAt) < keepRunsForMs;
}

/** The digests and logs one run names. Its pipeline text parses as it did when it was accepted. */
export function runReferences(doc: RunDoc): { digests: string[]; logs: string[] } {
  const digests: string[] = [];
  const logs: string[] = [];
  for (const [stage, s] of Object.entries(doc.stages)) {
    for (const o of Object.values(s.outputs ?? {})) digests.push(o.digest);
    if (s.logPath !== undefined) logs.push(s.logPath);
    const last = Math.max(s.attempt ?? 0, ...(s.attempts ?? []).map((a) => a.n));
    for (let n = 1; n <= last; n++) logs.push(logPathFor(doc.id, stage, n));
  }
  let stages: ResolvedStage[];
  try {
    stages = resolvePipeline(parsePipeline(doc.yaml, doc.path), doc.params, { allowMissing: true });
  } catch (err: unknown) {
    // Its inputs unknown, nothing can be collected safely: said, with the run to look at.
    throw StagefarmError.wrap(err, `run ${doc.id}: its pipeline no longer resolves`);
  }
  for (const st of stages) for (const i of st.inputs) if (i.t === "artifact") digests.push(i.digest);
  return { digests, logs };
}

/** The roots of the recent runs `listRuns` returns. */
export function recentRunRoots(
  listRuns: () => Promise<RunDoc[]>,
  keepRunsForMs: number,
  now: () => number = Date.now,
): GcRootSource {
  return async (signal) => {
    const digests = new Set<string>();
    const logs = new Set<string>();
    const nowMs = now();
    for (const doc of await listRuns()) {
      throwIfAborted(signal);
      if (!isRecentRun(doc, nowMs, keepRunsForMs)) continue;
      const refs = runReferences(doc);
      for (const d of refs.digests) digests.add(d);
      for (const l of refs.logs) logs.add(l);
    }
    return { digests, logs };
  };
}

/** Everything a farm's collection keeps besides its cache entries. */
export function farmGcRoots(
  store: ArtifactStore,
  listRuns: () => Promise<RunDoc[]>,
  keepRunsForMs: number,
): GcRootSource {
  return combineRoots([releaseRoots(store), recentRunRoots(listRuns, keepRunsForMs)]);
}
