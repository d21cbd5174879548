/**
 * `stagefarm cache ls|show|rm|gc`: inspect and collect an artifact store's action cache: a
 * farm's through its coordinator (`--coordinator`), a farm's S3 store read directly (`--s3`,
 * reads only), else the local store (../cache/choose.ts says which, on stderr). `rm` removes
 * cache entries (manifests) only: blobs may be shared with other entries, and `gc` removes those
 * no kept entry, release or (on a farm) recent run references.
 */
import type { Command } from "commander";
import { humanBytes } from "../../shared/util/bytes.js";
import { formatDuration, parseDurationMs } from "../../shared/util/duration.js";
import { cacheSourceOptions, withCacheSource, type CacheFlags } from "../cache/options.js";
import type { CliContext } from "../context.js";
import { makeStyle, shortDigest } from "../output.js";

export function registerCache(program: Command, ctx: CliContext): void {
  const cache = program
    .command("cache")
    .description(
      "inspect and garbage-collect the action cache: a farm's through its coordinator, else the local store",
    );

  cacheSourceOptions(cache.command("ls"))
    .description("list action-cache entries")
    .option("--json", "one JSON object per line")
    .action(async (opts: { json?: boolean } & CacheFlags) =>
      withCacheSource(ctx, "cache", opts, false, async (source) => {
        const all = await source.list();
        if (opts.json === true) {
          for (const m of all) ctx.stdout.write(`${JSON.stringify(m)}\n`);
          return;
        }
        const c = makeStyle(ctx.color(ctx.stdout));
        let total = 0;
        for (const m of all) {
          const size = Object.values(m.outputs).reduce((a, o) => a + o.size, 0);
          total += size;
          ctx.stdout.write(
            `${shortDigest(m.key)}  ${`${m.pipeline}/${m.stage}`.padEnd(32)}  ${humanBytes(size).padStart(10)}  ${formatDuration(m.durationMs).padStart(7)}  ${c.dim(m.createdAt)}\n`,
          );
        }
        ctx.stdout.write(`${all.length} entries, ${humanBytes(total)} of outputs (${source.where})\n`);
      }),
    );

  cacheSourceOptions(cache.command("show"))
    .description("show one action-cache entry (key or unique key prefix)")
    .argument("<key>", "cache key or prefix")
    .option("--json", "print the manifest as JSON")
    .action(async (key: string, opts: { json?: boolean } & CacheFlags) =>
      withCacheSource(ctx, "cache", opts, false, async (source) => {
        const m = await source.find(key);
        if (opts.json === true) {
          ctx.stdout.write(`${JSON.stringify(m)}\n`);
          return;
        }
        const lines = [
          `key:      ${m.key}`,
          `stage:    ${m.pipeline}/${m.stage} (${m.runner})`,
          `created:  ${m.createdAt} by ${m.producer}, took ${formatDuration(m.durationMs)}`,
          ...(m.log === undefined ? [] : [`log:      ${m.log}`]),
          "outputs:",
          ...Object.entries(m.outputs).map(
            ([n, o]) =>
              `  ${n.padEnd(16)} ${o.kind.padEnd(4)} ${humanBytes(o.size).padStart(10)}  sha256:${o.digest}`,
          ),
        ];
        ctx.stdout.write(`${lines.join("\n")}\n`);
      }),
    );

  cacheSourceOptions(cache.command("rm"))
    .description(
      "remove action-cache entries (keys or unique key prefixes); their stages run again next time",
    )
    .argument("<key...>", "cache keys or prefixes")
    .option("--json", "print the removed entries as JSON")
    .action(async (keys: string[], opts: { json?: boolean } & CacheFlags) =>
      withCacheSource(ctx, "cache", opts, true, async (source) => {
        // Every key is resolved before anything is removed: one typo removes nothing.
        const unique = await source.remove(keys);
        if (opts.json === true) {
          const removed = unique.map((m) => ({ key: m.key, pipeline: m.pipeline, stage: m.stage }));
          ctx.stdout.write(`${JSON.stringify({ removed })}\n`);
          return;
        }
        for (const m of unique)
          ctx.stdout.write(`removed cache entry ${shortDigest(m.key)} (${m.pipeline}/${m.stage})\n`);
        ctx.stdout.write(
          `removed ${unique.length} ${unique.length === 1 ? "entry" : "entries"}; run \`stagefarm cache gc\` to free blobs no entry references\n`,
        );
      }),
    );

  cacheSourceOptions(cache.command("gc"))
    .description(
      "remove cache entries older than --older-than, then every blob and log no kept entry, release or recent run references",
    )
    .option("-n, --dry-run", "only show what would be removed")
    .option("--older-than <duration>", "also remove cache entries older than this (e.g. 30d)")
    .option("--grace <duration>", "keep unreferenced blobs younger than this (in-flight stages)", "1h")
    .option(
      "--keep-runs-for <duration>",
      "on a farm: keep the outputs and logs of runs running or finished less than this long ago (default 7d)",
    )
    .option("--json", "print the report as JSON")
    .action(
      async (
        opts: {
          dryRun?: boolean;
          olderThan?: string;
          grace: string;
          keepRunsFor?: string;
          json?: boolean;
        } & CacheFlags,
      ) =>
        withCacheSource(ctx, "cache", opts, true, async (source) => {
          const report = await source.gc({
            dryRun: opts.dryRun === true,
            graceMs: parseDurationMs(opts.grace),
            ...(opts.olderThan === undefined ? {} : { olderThanMs: parseDurationMs(opts.olderThan) }),
            ...(opts.keepRunsFor === undefined ? {} : { keepRunsForMs: parseDurationMs(opts.keepRunsFor) }),
          });
          if (opts.json === true) {
            ctx.stdout.write(`${JSON.stringify({ dryRun: opts.dryRun === true, ...report })}\n`);
            return;
          }
          const verb = opts.dryRun === true ? "would remove" : "removed";
          for (const k of report.manifestsRemoved)
            ctx.stdout.write(`${verb} cache entry ${shortDigest(k)}\n`);
          for (const b of report.blobsRemoved)
            ctx.stdout.write(`${verb} blob ${shortDigest(b.digest)} (${humanBytes(b.size)})\n`);
          for (const l of report.logsRemoved) ctx.stdout.write(`${verb} log ${l}\n`);
          ctx.stdout.write(
            `${verb} ${report.manifestsRemoved.length} entries, ${report.blobsRemoved.length} blobs (${humanBytes(report.bytesFreed)}), ${report.logsRemoved.length} logs; kept ${report.manifestsKept} entries${report.rootsKept > 0 ? ` and ${report.rootsKept} blobs releases or recent runs name` : ""}\n`,
          );
        }),
    );
}
