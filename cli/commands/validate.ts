/** `stagefarm validate FILE`: parse and check a pipeline; errors name file:line:col. */
import type { Command } from "commander";
import { exitCodeFor, StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import { collect, withoutFarm } from "../options.js";

export function registerValidate(program: Command, ctx: CliContext): void {
  withoutFarm(program.command("validate"))
    .description("check a pipeline file: schema, references, cycles, params")
    .argument("<file>", "pipeline YAML file")
    .option("-p, --param <key=value>", "check with this param override (repeatable)", collect, [])
    .option("--json", "print the result as JSON, problems included (exit status as without --json)")
    .action(async (file: string, opts: { param: string[]; json?: boolean }) => {
      if (opts.json !== true) {
        await validate(file, opts.param, ctx);
        return;
      }
      try {
        await validate(file, opts.param, ctx, true);
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        if (e.code === "internal") throw err;
        // One JSON document on stdout for tools: the problems with their positions when the
        // pipeline is malformed, else the one error.
        const issues = Array.isArray(e.details["issues"]) ? e.details["issues"] : undefined;
        const more = e.details["moreIssues"];
        ctx.stdout.write(
          `${JSON.stringify({
            ok: false,
            file,
            code: e.code,
            ...(issues !== undefined ? { issues } : { message: e.message }),
            ...(typeof more === "number" ? { moreIssues: more } : {}),
          })}\n`,
        );
        ctx.setExitCode(exitCodeFor(e.code));
      }
    });
}

async function validate(file: string, paramArgs: string[], ctx: CliContext, json = false): Promise<void> {
  const [{ missingParams, parseParamArgs, resolvePipeline }, { loadPipelineArg }] = await Promise.all([
    import("../../shared/pipeline/index.js"),
    import("../pipeline-arg.js"),
  ]);
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
