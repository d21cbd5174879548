/**
 * A submission's `--repro` stages, checked against the pipeline at submit time: every name must
 * be a stage of it (refused with the pipeline's stages named otherwise), each counted once.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import { quoted } from "../../shared/util/excerpt.js";
import { MAX_REPRO_STAGES, type RunRepro } from "./verdict.js";

/** What a submission asks: the stages to check, and whether one that differs fails the run. */
export interface ReproSubmission {
  stages: readonly string[];
  strict: boolean;
}

export function reproRequest(spec: PipelineSpec, req: ReproSubmission | undefined): RunRepro | undefined {
  if (req === undefined || (req.stages.length === 0 && !req.strict)) return undefined;
  if (req.stages.length === 0)
    throw new StagefarmError("invalid_argument", "--repro-strict needs --repro STAGE[,STAGE…]");
  if (req.stages.length > MAX_REPRO_STAGES)
    throw new StagefarmError("invalid_argument", `--repro: at most ${MAX_REPRO_STAGES} stages`);
  const names = new Set(spec.stages.map((s) => s.name));
  const stages = [...new Set(req.stages)];
  const unknown = stages.filter((s) => !names.has(s));
  if (unknown.length > 0) {
    const list = [...names].slice(0, 20).join(", ");
    throw new StagefarmError(
      "invalid_argument",
      `--repro: ${unknown
        .slice(0, 5)
        .map((s) => quoted(s, 60))
        .join(
          ", ",
        )} ${unknown.length === 1 ? "is not a stage" : "are not stages"} of pipeline ${quoted(spec.name, 60)} (its stages: ${list}${names.size > 20 ? ", …" : ""})`,
    );
  }
  return { stages, strict: req.strict, verdicts: {} };
}
