/** `stagefarm run FILE`: runs a pipeline on the embedded farm (this machine, no servers). */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import { collect, envOption, positiveInt } from "../options.js";
import { makeStyle } from "../output.js";
import type { LiveStatus } from "../progress.js";
import { exitStatusForSignal, onShutdown } from "../signals.js";
import { keepFailedWorkspacesOption } from "./keep-failed-option.js";
import { reproOptions, reproRequestOf, type ReproFlags } from "./repro-options.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [
    pipeline,
    { loadPipelineArg },
    { EmbeddedFarm },
    { ProgressPrinter },
    { summarize },
    coordinator,
    area,
  ] = await Promise.all([
    import("../../shared/pipeline/index.js"),
    import("../pipeline-arg.js"),
    import("../embedded.js"),
    import("../progress.js"),
    import("../summary.js"),
    import("../../coordinator/index.js"),
    import("../status-area.js"),
  ]);
  return { ...pipeline, ...coordinator, ...area, loadPipelineArg, EmbeddedFarm, ProgressPrinter, summarize };
}

type Loaded = Awaited<ReturnType<typeof load>>;

/** The status area of a run on a terminal: every stage with its expected duration from the store's history. */
async function liveStatus(
  m: Loaded,
  farm: { store: Parameters<Loaded["loadStatsReports"]>[0] },
  spec: Awaited<ReturnType<Loaded["loadPipelineArg"]>>,
  out: NodeJS.WriteStream,
  slots: number,
): Promise<LiveStatus> {
  const [report] = await m.loadStatsReports(farm.store, spec.name);
  return {
    area: new m.StatusArea({ out, columns: () => (out.columns > 0 ? out.columns : 80) }),
    plan: spec.stages.map((s) => ({
      name: s.name,
      after: m.stageDeps(s),
      expectedMs: m.expectedDuration(report, s.name, s.estimateMs).ms,
    })),
    slots,
    now: () => Date.now(),
  };
}
export function registerRun(program: Command, ctx: CliContext): void {
  reproOptions(program.command("run"))
    .description("run a pipeline on this machine (embedded farm: no servers needed)")
    .argument("<file>", "pipeline YAML file (or `show RUN_ID`: a run on a remote coordinator)")
    .argument("[id]", "with `show`: the run id")
    .option("-p, --param <key=value>", "override a pipeline param (repeatable)", collect, [])
    .option("-j, --jobs <n>", "stages to run at once", positiveInt("--jobs"), 2)
    .option("--json", "print a JSON summary as the last line (progress goes to stderr)")
    .option(
      "-q, --quiet",
      "no stage logs and no status area: one line per state change (and a failed stage's log tail)",
    )
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
        const m = await load();
        const spec = await m.loadPipelineArg(file);
        const params = m.parseParamArgs(opts.param);
        const repro = reproRequestOf(opts);
        const cfg = ctx.config();
        const out = opts.json === true ? ctx.stderr : ctx.stdout;
        const abort = new AbortController();
        // Through the status area once there is one (a line written past it would break its redraw).
        let note = (text: string): void => void out.write(`\n${text}\n`);
        const shutdown = onShutdown(
          (sig) => {
            note(`>>> ${sig}: cancelling running stages (again to force)`);
            abort.abort(new Error(`received ${sig}`));
          },
          (sig) => process.exit(exitStatusForSignal(sig)),
        );
        try {
          await using farm = await m.EmbeddedFarm.open(cfg, ctx.logger(cfg.logLevel), {
            slots: opts.jobs,
            keepFailedWorkspaces: opts.keepFailedWorkspaces === true,
          });
          const tty = (out as NodeJS.WriteStream).isTTY === true ? (out as NodeJS.WriteStream) : undefined;
          using progress = new m.ProgressPrinter({
            out,
            style: makeStyle(ctx.color(out)),
            logs: opts.quiet !== true,
            ...(tty === undefined || opts.json === true || opts.quiet === true
              ? {}
              : { live: await liveStatus(m, farm, spec, tty, opts.jobs) }),
          });
          note = (text) => progress.note(text);
          const result = await farm.run(spec, {
            params,
            signal: abort.signal,
            onEvent: progress.onEvent,
            ...(repro === undefined ? {} : { repro }),
          });
          if (opts.json === true) ctx.stdout.write(`${JSON.stringify(m.summarize(result))}\n`);
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
