/** `stagefarm validate FILE`: parse and check a pipeline; errors name file:line:col. */
import type { Command } from "commander";
import { loadPipeline, resolvePipeline, parseParamArgs } from "../../shared/pipeline/index.js";
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
      const stages = resolvePipeline(spec, parseParamArgs(opts.param));
      if (opts.json === true)
        ctx.stdout.write(
          `${JSON.stringify({ ok: true, pipeline: spec.name, file, stages: stages.length })}\n`,
        );
      else
        ctx.stdout.write(
          `${file}: ok — pipeline ${spec.name}, ${stages.length} stages, ${spec.params.length} params\n`,
        );
    });
}
