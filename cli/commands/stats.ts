/**
 * `stagefarm stats [PIPELINE] [--json]`: per stage the executions, p50/p90 duration and cache
 * hit ratio from recorded history (the store's cache manifests and the engine's
 * `stats/<pipeline>.json`), for every pipeline or one (a name, or a pipeline file). Given a
 * file, also the expected critical path: each stage at its p50 (its `estimate:` without
 * history), and the same path's pessimistic total with stages at their p90. A farm's history
 * through its coordinator (`--coordinator`), or its S3 store read directly (`--s3`), else the
 * local store's (../cache/choose.ts says which, on stderr).
 */
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import type { ExpectedCriticalPath, PipelineStatsReport, StageStatsRow } from "../../coordinator/index.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import { formatDuration } from "../../shared/util/duration.js";
import { cacheSourceOptions, withCacheSource, type CacheFlags } from "../cache/options.js";
import type { CliContext } from "../context.js";
import { makeStyle } from "../output.js";

/** A pipeline file when the argument names one (an existing file, or a .yaml/.yml path). */
async function isPipelineFile(arg: string): Promise<boolean> {
  if (/\.ya?ml$/i.test(arg)) return true;
  return (await stat(arg).catch(() => undefined))?.isFile() === true;
}

interface Shown extends PipelineStatsReport {
  file?: string;
  criticalPath?: ExpectedCriticalPath;
}

/** What the action needs, loaded when it runs (cli/main.ts: start-up loads registrations only). */
async function load() {
  const [coordinator, pipeline, { loadPipelineArg }] = await Promise.all([
    import("../../coordinator/index.js"),
    import("../../shared/pipeline/index.js"),
    import("../pipeline-arg.js"),
  ]);
  return { ...coordinator, ...pipeline, loadPipelineArg };
}

/** The report for a pipeline file: a row per stage of the file, in dependency order. */
function forFile(
  { topoOrder, expectedCriticalPath }: Awaited<ReturnType<typeof load>>,
  spec: PipelineSpec,
  report: PipelineStatsReport | undefined,
): Shown {
  const rows = new Map((report?.stages ?? []).map((r) => [r.stage, r]));
  return {
    pipeline: spec.name,
    file: spec.file,
    runs: report?.runs ?? 0,
    stages: topoOrder(spec.stages).map(
      (name) => rows.get(name) ?? { stage: name, executions: 0, hits: 0, failures: 0, lookups: 0 },
    ),
    criticalPath: expectedCriticalPath(spec.stages, report),
  };
}

function ms(v: number | undefined): string {
  return v === undefined ? "—" : formatDuration(v);
}

function hitText(r: StageStatsRow): string {
  return r.hitRatio === undefined ? "—" : `${Math.round(r.hitRatio * 100)}% of ${r.lookups}`;
}

export function registerStats(program: Command, ctx: CliContext): void {
  cacheSourceOptions(program.command("stats"))
    .description("per stage durations (p50/p90), executions and cache hit ratio from recorded history")
    .argument("[pipeline]", "a pipeline name, or a pipeline file (adds its expected critical path)")
    .option("--json", "print the statistics as JSON")
    .action(async (arg: string | undefined, opts: { json?: boolean } & CacheFlags) => {
      const m = await load();
      const spec =
        arg !== undefined && (await isPipelineFile(arg)) ? await m.loadPipelineArg(arg) : undefined;
      const name = spec?.name ?? arg;
      const answer = await withCacheSource(ctx, "stats", opts, false, (source) => source.stats(name));
      const shown: Shown[] = spec !== undefined ? [forFile(m, spec, answer.pipelines[0])] : answer.pipelines;
      if (opts.json === true) {
        ctx.stdout.write(`${JSON.stringify({ store: answer.store, pipelines: shown })}\n`);
        return;
      }
      const c = makeStyle(ctx.color(ctx.stdout));
      const out: string[] = [];
      if (shown.length === 0)
        out.push(
          name === undefined
            ? `No recorded history in ${answer.store}: run a pipeline first.`
            : `No recorded history for pipeline ${name} in ${answer.store}.`,
        );
      for (const p of shown) {
        if (out.length > 0) out.push("");
        const runs = p.runs === 0 ? "no recorded runs" : `${p.runs} recorded run${p.runs === 1 ? "" : "s"}`;
        out.push(c.bold(`Pipeline ${p.pipeline} — ${runs}${p.file === undefined ? "" : ` (${p.file})`}`));
        const w = Math.max(5, ...p.stages.map((r) => r.stage.length));
        out.push(
          c.dim(
            `  ${"stage".padEnd(w)}  ${"runs".padStart(5)}  ${"p50".padStart(8)}  ${"p90".padStart(8)}  ${"fails".padStart(5)}  cache hits`,
          ),
        );
        for (const r of p.stages)
          out.push(
            `  ${r.stage.padEnd(w)}  ${String(r.executions).padStart(5)}  ${ms(r.p50Ms).padStart(8)}  ${ms(r.p90Ms).padStart(8)}  ${String(r.failures).padStart(5)}  ${hitText(r)}`,
          );
        const cp = p.criticalPath;
        if (cp !== undefined) {
          const guessed = cp.path.filter((s) => cp.from[s] !== "history");
          out.push("");
          out.push(
            `Expected critical path: ${cp.path.join(" → ")} — ${formatDuration(cp.p50Ms)} at p50, ${formatDuration(cp.p90Ms)} at p90`,
          );
          if (guessed.length > 0)
            out.push(c.dim(`  without history (estimate or 1m): ${guessed.join(", ")}`));
        }
      }
      ctx.stdout.write(`${out.join("\n")}\n`);
    });
}
