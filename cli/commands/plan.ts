/** `stagefarm plan FILE`: the DAG in dependency order, cache keys and status, the critical path. */
import type { Command } from "commander";
import { planRun } from "../../coordinator/index.js";
import { loadPipeline, parseParamArgs, resolvePipeline } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { formatDuration } from "../../shared/util/duration.js";
import { collect } from "../config.js";
import type { CliContext } from "../context.js";
import { makeStyle, shortDigest } from "../output.js";

export function registerPlan(program: Command, ctx: CliContext): void {
  program
    .command("plan")
    .description("show the stages in dependency order, their cache keys and status, and the critical path")
    .argument("<file>", "pipeline YAML file")
    .option("-p, --param <key=value>", "override a pipeline param (repeatable)", collect, [])
    .option("--json", "print the plan as JSON")
    .action(async (file: string, opts: { param: string[]; json?: boolean }) => {
      const spec = await loadPipeline(file);
      const stages = resolvePipeline(spec, parseParamArgs(opts.param));
      const cfg = ctx.config();
      const store = await FsArtifactStore.open(cfg.storeDir);
      try {
        const est = new Map(spec.stages.map((s) => [s.name, s.estimateMs ?? 60_000]));
        const plan = await planRun(store, stages, (n) => est.get(n) ?? 60_000, ctx.logger(cfg.logLevel));
        if (opts.json === true) {
          ctx.stdout.write(`${JSON.stringify({ pipeline: spec.name, ...plan })}\n`);
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
          const key = r.key === undefined ? c.dim("after upstream") : shortDigest(r.key).padEnd(14);
          const status =
            r.status === "cached"
              ? c.green("cached")
              : r.status === "will-run"
                ? c.yellow("will run")
                : c.dim("pending");
          const onPath = plan.criticalPath.path.includes(r.stage) ? c.bold("*") : " ";
          out.push(
            `${onPath} ${String(i + 1).padStart(3)}  ${r.stage.padEnd(w)}  ${r.runner.padEnd(8)}  ${formatDuration(r.expectedMs).padStart(8)}  ${key}  ${status}` +
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
          `${cached} of ${plan.rows.length} stages cached; expected time to finish: ${formatDuration(plan.remainingMs)}`,
        );
        ctx.stdout.write(`${out.join("\n")}\n`);
      } finally {
        await store.close();
      }
    });
}
