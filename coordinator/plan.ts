/**
 * A dry run: which stages would run, which are cached, and each known cache key. A stage's key
 * is known only once every upstream output is known, i.e. when its upstream stages are cached;
 * otherwise it is computed "after upstream". A stage using a required param that was not given
 * has no key either ("needs-param"); plan still shows the DAG and the expected durations.
 */
import { computeCacheKey } from "../shared/cache-key/index.js";
import type { Digest } from "../shared/digest.js";
import type { Logger } from "../shared/log.js";
import { criticalPath, stageDeps, topoOrder } from "../shared/pipeline/index.js";
import type { ArtifactRef, ResolvedStage } from "../shared/pipeline/types.js";
import type { ArtifactStore, ManifestOutput } from "../shared/store/types.js";
import { lookupCache } from "./engine/cache-lookup.js";

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
  store: ArtifactStore,
  stages: ResolvedStage[],
  estimateMs: (stage: string) => number,
  logger: Logger,
): Promise<Plan> {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const outputs = new Map<string, Record<string, ManifestOutput>>();
  const rows: PlanRow[] = [];
  const rowOf = new Map<string, PlanRow>();
  for (const name of topoOrder(stages)) {
    const stage = byName.get(name);
    if (stage === undefined) continue;
    const deps = stageDeps(stage);
    const row: PlanRow = {
      stage: name,
      runner: stage.runner,
      deps,
      requires: stage.requires,
      status: "after-upstream",
      expectedMs: estimateMs(name),
    };
    const inputs = knownInputs(stage, outputs);
    if (stage.paramsMissing !== undefined) {
      row.status = "needs-param";
      row.paramsMissing = stage.paramsMissing;
    } else if (inputs !== undefined) {
      row.key = computeCacheKey(stage, inputs);
      const hit = await lookupCache(store, row.key, logger);
      if (hit !== undefined) {
        row.status = "cached";
        row.expectedMs = hit.durationMs;
        outputs.set(name, hit.outputs);
      } else row.status = "will-run";
    }
    rows.push(row);
    rowOf.set(name, row);
  }
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
