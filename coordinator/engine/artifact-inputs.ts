/**
 * Store artifacts named by digest (`artifact:` inputs: an imported seed, another run's output)
 * must exist before a run starts: a missing one is refused at submit with the stage, the input
 * and how to import it, instead of failing hours later when the stage is dispatched.
 */
import { assertDigest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";

export async function checkArtifactInputs(
  stages: readonly ResolvedStage[],
  store: ArtifactStore,
): Promise<void> {
  const missing: string[] = [];
  for (const stage of stages)
    for (const input of stage.inputs) {
      if (input.t !== "artifact") continue;
      const digest = assertDigest(input.digest, `stage "${stage.name}" input "${input.name}" artifact`);
      if (!(await store.statBlob(digest)))
        missing.push(`  stage "${stage.name}" input "${input.name}": sha256 ${digest}`);
    }
  if (missing.length > 0)
    throw new StagefarmError(
      "not_found",
      `${missing.length === 1 ? "an artifact" : `${missing.length} artifacts`} the pipeline names ${missing.length === 1 ? "is" : "are"} not in the store (${store.describe}):\n${missing.join("\n")}\nimport the file with \`stagefarm import FILE\` and pass the digest it prints`,
    );
}
