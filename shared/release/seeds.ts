/**
 * Seed lineage: a pipeline input may name a release pointer (`release: latest-stage3-amd64-openrc`)
 * instead of a digest. The coordinator resolves it when the run is submitted — to the digest the
 * pointer names at that moment — records the binding in the run (its `releaseInputs`), and runs
 * (and resumes, and retries) the pipeline with the inputs bound to those digests: a run is
 * seeded by content, never by a name that moves under it.
 */
import { StagefarmError } from "../errors.js";
import type { PipelineSpec } from "../pipeline/index.js";
import type { ArtifactStore } from "../store/index.js";
import { quoted } from "../util/excerpt.js";
import { releaseName } from "./layout.js";
import { currentOf, readPointer, type ReleaseSeed } from "./pointer.js";

/** Whether the pipeline has `release:` inputs. */
export function hasReleaseInputs(spec: PipelineSpec): boolean {
  return spec.stages.some((s) => s.inputs.some((i) => i.t === "artifact" && i.release !== undefined));
}

/** Resolves every `release:` input of `spec` to the digest its pointer names now. */
export async function resolveReleaseInputs(
  spec: PipelineSpec,
  store: ArtifactStore,
  signal?: AbortSignal,
): Promise<ReleaseSeed[]> {
  const seeds: ReleaseSeed[] = [];
  const missing: string[] = [];
  for (const stage of spec.stages)
    for (const input of stage.inputs) {
      if (input.t !== "artifact" || input.release === undefined) continue;
      const name = releaseName(input.release);
      const current = currentOf(await readPointer(store, name, signal));
      if (current === undefined) {
        missing.push(`  stage "${stage.name}" input "${input.name}": release ${quoted(input.release)}`);
        continue;
      }
      seeds.push({
        stage: stage.name,
        input: input.name,
        release: name,
        digest: current.digest,
        run: current.run,
      });
    }
  if (missing.length > 0)
    throw new StagefarmError(
      "not_found",
      `no release has been promoted under ${missing.length === 1 ? "a name" : "names"} the pipeline uses:\n${missing.join("\n")}\npromote one with \`stagefarm release RUN --name NAME\``,
    );
  return seeds;
}

/** `spec` with its `release:` inputs bound to the digests of `seeds` (a run's record). */
export function bindReleaseInputs(spec: PipelineSpec, seeds: readonly ReleaseSeed[]): PipelineSpec {
  if (!hasReleaseInputs(spec)) return spec;
  const digestOf = new Map(seeds.map((s) => [`${s.stage}\u0000${s.input}`, s.digest]));
  return {
    ...spec,
    stages: spec.stages.map((stage) => ({
      ...stage,
      inputs: stage.inputs.map((input) => {
        if (input.t !== "artifact" || input.release === undefined) return input;
        const digest = digestOf.get(`${stage.name}\u0000${input.name}`);
        if (digest === undefined)
          throw new StagefarmError(
            "internal",
            `stage "${stage.name}" input "${input.name}" names release ${quoted(input.release)} but the run records no digest for it`,
          );
        return { ...input, digest };
      }),
    })),
  };
}
