/** `stagefarm diff A B`: registration; the comparison is in ./diff-run.ts, loaded when it runs. */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import type { DiffFlags } from "./diff-run.js";

export function registerDiff(program: Command, ctx: CliContext): void {
  program
    .command("diff")
    .description(
      "compare two trees (store digests, RUN:STAGE:OUTPUT, directories, tarballs, ISO images) and group each difference by owning package",
    )
    .argument("<a>", "first tree")
    .argument("<b>", "second tree")
    .option(
      "--normalize",
      "leave out differences that are only known noise (mtimes, .pyc timestamps, gzip mtimes, …)",
    )
    .option("--json", "print the report as one JSON object")
    .option("--max-entries <n>", "refuse a tree with more entries than this (default 2000000)")
    .action(async (a: string, b: string, opts: DiffFlags) => {
      try {
        ctx.setExitCode(await (await import("./diff-run.js")).runDiff(ctx, a, b, opts));
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        ctx.stderr.write(`stagefarm: error: ${e.message}\n`);
        ctx.setExitCode(2);
      }
    });
}
