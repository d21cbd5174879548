/** `stagefarm validate FILE`: parse and check a pipeline; errors name file:line:col. */
import type { Command } from "commander";
import { loadPipeline, missingParams, parseParamArgs, resolvePipeline } from "../../shared/pipeline/index.js";
import { collect } from "../config.js";
import type { CliContext } from "../context.js";

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command("validate")
    .description("check a pipeline file: schema, references, cycles, params")
    .argument("<file>", "pipeline YAML file")
    .option("-p, --param <key=value>", "check with this param override (repeatable)", collect, [])
    .option("--json", "print the result as JSON")
    .action(async (file: string, opts: { param: string[]; json?: boolean }) => {
      const spec = await loadPipeline(file);
      const params = parseParamArgs(opts.param);
      const stages = resolvePipeline(spec, params, { allowMissing: true });
      const missing = missingParams(spec, params);
      if (opts.json === true)
        ctx.stdout.write(
          `${JSON.stringify({ ok: true, pipeline: spec.name, file, stages: stages.length, paramsMissing: missing })}\n`,
        );
      else
        ctx.stdout.write(
          `${file}: ok — pipeline ${spec.name}, ${stages.length} stages, ${spec.params.length} params` +
            (missing.length > 0 ? ` (required, give with --param to run: ${missing.join(", ")})` : "") +
            "\n",
        );
    });
}
