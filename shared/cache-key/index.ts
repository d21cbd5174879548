/**
 * Cache keys: sha256 of the canonical JSON of a stage's key material (material.ts). A stage
 * whose key has a manifest in the action cache is not run again.
 */
import { sha256, type Digest } from "../digest.js";
import type { ArtifactRef, ResolvedStage } from "../pipeline/index.js";
import { canonicalJson } from "./canonical-json.js";
import { cacheKeyMaterial, type KeyOptions } from "./material.js";

export { canonicalJson } from "./canonical-json.js";
export { cacheKeyMaterial, type KeyMaterial } from "./material.js";

/** The cache key of `stage` with its stage inputs filled by `inputs` (by input name). */
export function computeCacheKey(
  stage: ResolvedStage,
  inputs: Readonly<Record<string, ArtifactRef | undefined>>,
  opts: KeyOptions = {},
): Digest {
  return sha256(canonicalJson(cacheKeyMaterial(stage, inputs, opts)));
}

/** Whether every stage input of `stage` has an artifact, i.e. its key can be computed. */
export function stageKeyReady(
  stage: ResolvedStage,
  available: Readonly<Record<string, ArtifactRef | undefined>>,
): boolean {
  return stage.inputs.every(
    (i) => i.t !== "stage" || (Object.hasOwn(available, i.name) && available[i.name] !== undefined),
  );
}
