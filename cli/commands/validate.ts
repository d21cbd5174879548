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
      // Loaded when the command runs (cli/main.ts); one bundled module after `npm run build`.
      const { validate } = await import("../validate-run.js");
      if (opts.json !== true) {
        await validate(file, opts.param, ctx, false);
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
