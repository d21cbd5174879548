/**
 * What went into a stage's cache key, for the dashboard's stage view: the key material
 * (shared/cache-key/material.ts) recomputed from the run's pipeline text, its params and the
 * output digests its upstream stages produced in this run, plus where each input came from.
 * `matches` says whether the material hashes to the key the run used; it does not when the
 * coordinator's runner versions changed since (a restart on a newer stagefarm).
 */
import { bindReleaseInputs } from "../../shared/release/index.js";
import { canonicalJson, cacheKeyMaterial, type KeyMaterial } from "../../shared/cache-key/index.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, resolvePipeline, type ArtifactRef } from "../../shared/pipeline/index.js";
import type { RunDoc } from "../service/run-doc.js";

export interface KeyInputOrigin {
  input: string;
  /** `stage.output` for an upstream output, `source` (a pinned URL) or `artifact` (by digest). */
  from: string;
  digest: string;
}

export interface KeyMaterialView {
  /** The key the run used. */
  key: string;
  /** sha256 of the canonical JSON of `material`. */
  computedKey: string;
  matches: boolean;
  material: KeyMaterial;
  inputs: KeyInputOrigin[];
}

export function keyMaterialOf(doc: RunDoc, stageName: string): KeyMaterialView {
  const s = doc.stages[stageName];
  if (s === undefined) throw new StagefarmError("not_found", `run ${doc.id} has no stage ${stageName}`);
  if (s.key === undefined)
    throw new StagefarmError(
      "not_found",
      `stage ${stageName} of run ${doc.id} has no cache key yet (${s.reason ?? s.state})`,
    );
  // `release:` inputs as the run was submitted with them (shared/release/seeds.ts).
  const spec = bindReleaseInputs(parsePipeline(doc.yaml, doc.path), doc.releaseInputs ?? []);
  const stage = resolvePipeline(spec, doc.params).find((st) => st.name === stageName);
  if (stage === undefined)
    throw new StagefarmError("not_found", `pipeline ${doc.pipeline} has no stage ${stageName}`);
  const inputs: Record<string, ArtifactRef> = {};
  const origins: KeyInputOrigin[] = [];
  for (const input of stage.inputs) {
    if (input.t === "source") {
      origins.push({ input: input.name, from: "source", digest: input.source.sha256 });
      continue;
    }
    if (input.t === "artifact") {
      origins.push({ input: input.name, from: "artifact", digest: input.digest });
      continue;
    }
    const out = doc.stages[input.stage]?.outputs?.[input.output];
    if (out === undefined)
      throw new StagefarmError(
        "not_found",
        `stage ${stageName}: input ${input.name} (${input.stage}.${input.output}) has no output recorded in run ${doc.id}`,
      );
    inputs[input.name] = { digest: out.digest, size: out.size, kind: out.kind };
    origins.push({ input: input.name, from: `${input.stage}.${input.output}`, digest: out.digest });
  }
  const material = cacheKeyMaterial(stage, inputs);
  const computedKey = sha256(canonicalJson(material));
  return { key: s.key, computedKey, matches: computedKey === s.key, material, inputs: origins };
}
