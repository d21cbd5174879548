/**
 * What `stagefarm validate` runs (./commands/validate.ts registers it): the pipeline parser and
 * checks, nothing of the farm. `npm run build` bundles this module with what it imports (the
 * parser, yaml) into one file (scripts/bundle-cli.mjs), because loading some 150 modules one by
 * one was most of validate's start-up time (docs/benchmarks.md); the shared error classes and the
 * runner `with` schemas stay separate modules.
 */
import { missingParams, parseParamArgs, resolvePipeline } from "../shared/pipeline/index.js";
import type { CliContext } from "./context.js";
import { loadPipelineArg } from "./pipeline-arg.js";

/** Checks the pipeline file `file` with `paramArgs` applied and writes the result. */
export async function validate(
  file: string,
  paramArgs: string[],
  ctx: Pick<CliContext, "stdout">,
  json: boolean,
): Promise<void> {
  const spec = await loadPipelineArg(file);
  const params = parseParamArgs(paramArgs);
  const stages = resolvePipeline(spec, params, { allowMissing: true });
  const missing = missingParams(spec, params);
  if (json)
    ctx.stdout.write(
      `${JSON.stringify({ ok: true, pipeline: spec.name, file, stages: stages.length, paramsMissing: missing })}\n`,
    );
  else
    ctx.stdout.write(
      `${file}: ok — pipeline ${spec.name}, ${stages.length} stages, ${spec.params.length} params` +
        (missing.length > 0 ? ` (required, give with --param to run: ${missing.join(", ")})` : "") +
        "\n",
    );
}
