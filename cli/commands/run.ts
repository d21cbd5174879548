/** `stagefarm run FILE`: runs a pipeline on the embedded farm (this machine, no servers). */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import { collect, envOption, positiveInt } from "../options.js";
import { makeStyle } from "../output.js";
import { exitStatusForSignal, onShutdown } from "../signals.js";
import { keepFailedWorkspacesOption } from "./keep-failed-option.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [{ parseParamArgs }, { loadPipelineArg }, { EmbeddedFarm }, { ProgressPrinter }, { summarize }] =
    await Promise.all([
      import("../../shared/pipeline/index.js"),
      import("../pipeline-arg.js"),
      import("../embedded.js"),
      import("../progress.js"),
      import("../summary.js"),
    ]);
  return { parseParamArgs, loadPipelineArg, EmbeddedFarm, ProgressPrinter, summarize };
}
import { reproOptions, reproRequestOf, type ReproFlags } from "./repro-options.js";

export function registerRun(program: Command, ctx: CliContext): void {
  reproOptions(program.command("run"))
    .description("run a pipeline on this machine (embedded farm: no servers needed)")
    .argument("<file>", "pipeline YAML file (or `show RUN_ID`: a run on a remote coordinator)")
    .argument("[id]", "with `show`: the run id")
    .option("-p, --param <key=value>", "override a pipeline param (repeatable)", collect, [])
    .option("-j, --jobs <n>", "stages to run at once", positiveInt("--jobs"), 2)
    .option("--json", "print a JSON summary as the last line (progress goes to stderr)")
    .option("-q, --quiet", "do not stream stage logs")
    .addOption(keepFailedWorkspacesOption())
    .addOption(
      envOption(
        "--coordinator <host:port>",
        "with `show`: coordinator gRPC address",
        "STAGEFARM_COORDINATOR",
      ),
    )
    .action(
      async (
        file: string,
        id: string | undefined,
        opts: {
          param: string[];
          jobs: number;
          json?: boolean;
          quiet?: boolean;
          coordinator?: string;
          keepFailedWorkspaces?: boolean;
        } & ReproFlags,
      ) => {
        if (file === "show") {
          if (id === undefined)
            throw new StagefarmError("invalid_argument", "usage: stagefarm run show RUN_ID");
          const { showRun } = await import("./remote-client.js");
          await showRun(id, opts, ctx);
          return;
        }
        if (id !== undefined) throw new StagefarmError("invalid_argument", `unexpected argument "${id}"`);
        const { parseParamArgs, loadPipelineArg, EmbeddedFarm, ProgressPrinter, summarize } = await load();
        const spec = await loadPipelineArg(file);
        const params = parseParamArgs(opts.param);
        const repro = reproRequestOf(opts);
        const cfg = ctx.config();
        const out = opts.json === true ? ctx.stderr : ctx.stdout;
        const progress = new ProgressPrinter({
          out,
          style: makeStyle(ctx.color(out)),
          logs: opts.quiet !== true,
        });
        const abort = new AbortController();
        const shutdown = onShutdown(
          (sig) => {
            out.write(`\n>>> ${sig}: cancelling running stages (again to force)\n`);
            abort.abort(new Error(`received ${sig}`));
          },
          (sig) => process.exit(exitStatusForSignal(sig)),
        );
        try {
          await using farm = await EmbeddedFarm.open(cfg, ctx.logger(cfg.logLevel), {
            slots: opts.jobs,
            keepFailedWorkspaces: opts.keepFailedWorkspaces === true,
          });
          const result = await farm.run(spec, {
            params,
            signal: abort.signal,
            onEvent: progress.onEvent,
            ...(repro === undefined ? {} : { repro }),
          });
          if (opts.json === true) ctx.stdout.write(`${JSON.stringify(summarize(result))}\n`);
          ctx.setExitCode(
            shutdown.received !== undefined
              ? exitStatusForSignal(shutdown.received)
              : result.outcome === "succeeded"
                ? 0
                : result.outcome === "cancelled"
                  ? 130
                  : 1,
          );
        } finally {
          shutdown.dispose();
        }
      },
    );
}
