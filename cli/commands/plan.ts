/**
 * `stagefarm plan FILE`: the DAG in dependency order, cache keys and status, the critical path;
 * cached or not against a farm's store through its coordinator (`--coordinator`), a farm's S3
 * store read directly (`--s3`), else the local store (../cache/choose.ts says which, on stderr).
 */
import type { Command } from "commander";
import { formatDuration } from "../../shared/util/duration.js";
import { cacheSourceOptions, withCacheSource, type CacheFlags } from "../cache/options.js";
import type { CliContext } from "../context.js";
import { collect, positiveInt } from "../options.js";
import { makeStyle, shortDigest } from "../output.js";

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [coordinator, pipeline, { loadPipelineArg }] = await Promise.all([
    import("../../coordinator/index.js"),
    import("../../shared/pipeline/index.js"),
    import("../pipeline-arg.js"),
  ]);
  return { ...coordinator, ...pipeline, loadPipelineArg };
}

interface PlanFlags {
  param: string[];
  json?: boolean;
  agents?: string;
  slots: number;
  labels?: string;
}

export function registerPlan(program: Command, ctx: CliContext): void {
  cacheSourceOptions(program.command("plan"))
    .description("show the stages in dependency order, their cache keys and status, and the critical path")
    .argument("<file>", "pipeline YAML file")
    .option("-p, --param <key=value>", "override a pipeline param (repeatable)", collect, [])
    .option("--json", "print the plan as JSON")
    .option(
      "--agents <k[,k2…]>",
      "also simulate the schedule on k agents (1,2,4 or 1-8): expected makespan next to max(critical path, work/slots)",
    )
    .option("--slots <n>", "with --agents: stages each agent runs at once", positiveInt("--slots"), 1)
    .option(
      "--labels <a,b,…>",
      "with --agents: the agents' labels (default: every label the pipeline requires)",
    )
    .action(async (file: string, opts: PlanFlags & CacheFlags) => {
      const { loadPipelineArg, expectedDuration, planRun, missingParams, parseParamArgs, resolvePipeline } =
        await load();
      const { parseAgentCounts, simulateAgents, formatAgentsSimulation } = await import("./plan-agents.js");
      const counts = opts.agents === undefined ? [] : parseAgentCounts(opts.agents);
      const labels = opts.labels
        ?.split(",")
        .map((l) => l.trim())
        .filter((l) => l !== "");
      const spec = await loadPipelineArg(file);
      const params = parseParamArgs(opts.param);
      const stages = resolvePipeline(spec, params, { allowMissing: true });
      const missing = missingParams(spec, params);
      await withCacheSource(ctx, "plan", opts, false, async (source) => {
        const report = (await source.stats(spec.name)).pipelines.find((r) => r.pipeline === spec.name);
        const expected = new Map(
          spec.stages.map((s) => [s.name, expectedDuration(report, s.name, s.estimateMs)]),
        );
        const plan = await planRun(source.lookup, stages, (n) => expected.get(n)?.ms ?? 60_000);
        // What would run: a cached stage takes no time.
        const cachedNow = new Set(plan.rows.filter((r) => r.status === "cached").map((r) => r.stage));
        const sims = await simulateAgents(
          stages,
          (n) => (cachedNow.has(n) ? 0 : (expected.get(n)?.ms ?? 60_000)),
          counts,
          opts.slots,
          labels,
        );
        if (opts.json === true) {
          const simulation = counts.length === 0 ? {} : { simulation: sims };
          ctx.stdout.write(
            `${JSON.stringify({ pipeline: spec.name, store: source.where, ...plan, paramsMissing: missing, expected: Object.fromEntries(expected), ...simulation })}\n`,
          );
          return;
        }
        const c = makeStyle(ctx.color(ctx.stdout));
        const w = Math.max(5, ...plan.rows.map((r) => r.stage.length));
        const out: string[] = [];
        out.push(
          c.bold(`Pipeline ${spec.name} — ${plan.rows.length} stages, platform ${spec.platform} (${file})`),
        );
        out.push("");
        out.push(
          c.dim(
            `  ${"#".padStart(3)}  ${"stage".padEnd(w)}  ${"runner".padEnd(8)}  ${"expected".padStart(8)}  ${"cache key".padEnd(14)}  status`,
          ),
        );
        plan.rows.forEach((r, i) => {
          const key =
            r.key !== undefined
              ? shortDigest(r.key).padEnd(14)
              : c.dim((r.status === "needs-param" ? "needs param" : "after upstream").padEnd(14));
          const status =
            r.status === "cached"
              ? c.green("cached")
              : r.status === "will-run"
                ? c.yellow("will run")
                : r.status === "needs-param"
                  ? c.yellow(`needs --param ${(r.paramsMissing ?? []).join(", ")}`)
                  : c.dim("pending");
          const onPath = plan.criticalPath.path.includes(r.stage) ? c.bold("*") : " ";
          const exp = expected.get(r.stage);
          const from =
            r.status === "cached"
              ? ""
              : exp?.from === "history"
                ? c.dim(` (median of ${exp.runs} run${exp.runs === 1 ? "" : "s"})`)
                : exp?.from === "estimate"
                  ? c.dim(" (estimate)")
                  : "";
          out.push(
            `${onPath} ${String(i + 1).padStart(3)}  ${r.stage.padEnd(w)}  ${r.runner.padEnd(8)}  ${formatDuration(r.expectedMs).padStart(8)}  ${key}  ${status}${from}` +
              (r.deps.length > 0 ? c.dim(`  ← ${r.deps.join(", ")}`) : "") +
              (r.requires.length > 0 ? c.dim(`  [requires ${r.requires.join(",")}]`) : ""),
          );
        });
        out.push("");
        out.push(
          `Critical path (*): ${plan.criticalPath.path.join(" → ")} — expected ${formatDuration(plan.criticalPath.totalMs)}`,
        );
        const cached = plan.rows.filter((r) => r.status === "cached").length;
        out.push(
          `${cached} of ${plan.rows.length} stages cached in ${source.where}; expected time to finish: ${formatDuration(plan.remainingMs)}`,
        );
        if (sims.length > 0) out.push("", ...formatAgentsSimulation(sims, c));
        if (missing.length > 0) {
          out.push("");
          out.push(c.yellow(`Required params without a value (give them to run): ${missing.join(", ")}`));
          for (const p of spec.params.filter((x) => missing.includes(x.name)))
            out.push(
              `  --param ${p.name}=…${p.description === undefined ? "" : c.dim(`  ${p.description}`)}`,
            );
        }
        ctx.stdout.write(`${out.join("\n")}\n`);
      });
    });
}
