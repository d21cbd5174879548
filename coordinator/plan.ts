/**
 * A dry run: which stages would run, which are cached, and each known cache key. A stage's key
 * is known only once every upstream output is known, i.e. when its upstream stages are cached;
 * otherwise it is computed "after upstream". A stage using a required param that was not given
 * has no key either ("needs-param"); plan still shows the DAG and the expected durations.
 *
 * The cache is asked in waves, each with every key known so far ({@link CacheLookup}): one
 * question per level of the DAG, so a farm's coordinator is asked a few times, not per stage.
 */
import { computeCacheKey } from "../shared/cache-key/index.js";
import type { Digest } from "../shared/digest.js";
import {
  criticalPath,
  stageDeps,
  topoOrder,
  type ArtifactRef,
  type ResolvedStage,
} from "../shared/pipeline/index.js";
import type { Manifest, ManifestOutput } from "../shared/store/index.js";

/** The entries a cache holds for `keys` (a key without one is a miss). */
export type CacheLookup = (keys: Digest[]) => Promise<Manifest[]>;

export interface PlanRow {
  stage: string;
  runner: string;
  deps: string[];
  requires: string[];
  /** Known when all upstream outputs are known. */
  key?: Digest;
  status: "cached" | "will-run" | "after-upstream" | "needs-param";
  /** Required params this stage uses that were not given (status "needs-param"). */
  paramsMissing?: string[];
  /** Expected duration (recorded on the cache entry when cached, else the estimate). */
  expectedMs: number;
  description?: string;
}

export interface Plan {
  rows: PlanRow[];
  criticalPath: { path: string[]; totalMs: number };
  /** Expected wall time of what would run now, on the critical path of uncached stages. */
  remainingMs: number;
}

export async function planRun(
  lookup: CacheLookup,
  stages: ResolvedStage[],
  estimateMs: (stage: string) => number,
): Promise<Plan> {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const outputs = new Map<string, Record<string, ManifestOutput>>();
  const order = topoOrder(stages).flatMap((n) => byName.get(n) ?? []);
  const rowOf = new Map<string, PlanRow>(
    order.map((stage) => [
      stage.name,
      {
        stage: stage.name,
        runner: stage.runner,
        deps: stageDeps(stage),
        requires: stage.requires,
        status: "after-upstream",
        expectedMs: estimateMs(stage.name),
      },
    ]),
  );
  for (const stage of order) {
    const row = rowOf.get(stage.name);
    if (row !== undefined && stage.paramsMissing !== undefined) {
      row.status = "needs-param";
      row.paramsMissing = stage.paramsMissing;
    }
  }
  // Each wave keys every stage whose inputs are known now and asks about them all at once.
  for (;;) {
    const wave: PlanRow[] = [];
    for (const stage of order) {
      const row = rowOf.get(stage.name);
      if (row === undefined || row.status !== "after-upstream") continue;
      const inputs = knownInputs(stage, outputs);
      if (inputs === undefined) continue;
      row.key = computeCacheKey(stage, inputs);
      wave.push(row);
    }
    if (wave.length === 0) break;
    const hits = new Map((await lookup(wave.flatMap((r) => r.key ?? []))).map((m) => [m.key, m]));
    for (const row of wave) {
      const hit = row.key === undefined ? undefined : hits.get(row.key);
      if (hit !== undefined) {
        row.status = "cached";
        row.expectedMs = hit.durationMs;
        outputs.set(row.stage, hit.outputs);
      } else row.status = "will-run";
    }
  }
  const rows = order.flatMap((s) => rowOf.get(s.name) ?? []);
  // Expected durations: what the cached execution took, else the estimate.
  const full = criticalPath(stages, (n) => rowOf.get(n)?.expectedMs ?? estimateMs(n));
  const remaining = criticalPath(stages, (n) => (rowOf.get(n)?.status === "cached" ? 0 : estimateMs(n)));
  return { rows, criticalPath: full, remainingMs: remaining.totalMs };
}

function knownInputs(
  stage: ResolvedStage,
  outputs: Map<string, Record<string, ManifestOutput>>,
): Record<string, ArtifactRef> | undefined {
  const inputs: Record<string, ArtifactRef> = {};
  for (const input of stage.inputs) {
    // A `release:` input has its digest only once a submit resolves the pointer.
    if (input.t === "artifact" && input.release !== undefined && input.digest === "") return undefined;
    if (input.t !== "stage") continue;
    const out = outputs.get(input.stage)?.[input.output];
    if (out === undefined) return undefined;
    inputs[input.name] = { digest: out.digest, size: out.size, kind: out.kind };
  }
  return inputs;
}
