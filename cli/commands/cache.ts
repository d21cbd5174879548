/**
 * `stagefarm cache ls|show|rm|gc`: inspect and collect the embedded farm's artifact store.
 * `rm` removes cache entries (manifests) only: blobs may be shared with other entries, and `gc`
 * removes those no kept entry references.
 */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { FsArtifactStore, Manifest } from "../../shared/store/index.js";
import { formatDuration, parseDurationMs } from "../../shared/util/duration.js";
import type { CliContext } from "../context.js";
import { makeStyle, shortDigest } from "../output.js";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

async function withStore<T>(ctx: CliContext, fn: (s: FsArtifactStore) => Promise<T>): Promise<T> {
  // Loaded when an action runs: start-up loads registrations only (cli/main.ts).
  const { FsArtifactStore } = await import("../../shared/store/index.js");
  const store = await FsArtifactStore.open(ctx.config().storeDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function findManifest(store: FsArtifactStore, prefix: string): Promise<Manifest> {
  if (!/^[0-9a-f]{4,64}$/.test(prefix))
    throw new StagefarmError(
      "invalid_argument",
      `"${prefix}" is not a cache key (at least 4 hex characters)`,
    );
  const found: Manifest[] = [];
  for await (const m of store.listManifests()) if (m.key.startsWith(prefix)) found.push(m);
  if (found.length === 0) throw new StagefarmError("not_found", `no cache entry with key ${prefix}…`);
  if (found.length > 1)
    throw new StagefarmError(
      "invalid_argument",
      `key prefix ${prefix} is ambiguous: ${found.map((m) => shortDigest(m.key)).join(", ")}`,
    );
  const [m] = found;
  if (m === undefined) throw new StagefarmError("internal", "unreachable");
  return m;
}

export function registerCache(program: Command, ctx: CliContext): void {
  const cache = program.command("cache").description("inspect and garbage-collect the artifact store");

  cache
    .command("ls")
    .description("list action-cache entries")
    .option("--json", "one JSON object per line")
    .action(async (opts: { json?: boolean }) =>
      withStore(ctx, async (store) => {
        const all: Manifest[] = [];
        for await (const m of store.listManifests()) all.push(m);
        all.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
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
            `${shortDigest(m.key)}  ${`${m.pipeline}/${m.stage}`.padEnd(32)}  ${formatBytes(size).padStart(10)}  ${formatDuration(m.durationMs).padStart(7)}  ${c.dim(m.createdAt)}\n`,
          );
        }
        ctx.stdout.write(`${all.length} entries, ${formatBytes(total)} of outputs (${store.describe})\n`);
      }),
    );

  cache
    .command("show")
    .description("show one action-cache entry (key or unique key prefix)")
    .argument("<key>", "cache key or prefix")
    .option("--json", "print the manifest as JSON")
    .action(async (key: string, opts: { json?: boolean }) =>
      withStore(ctx, async (store) => {
        const m = await findManifest(store, key);
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
              `  ${n.padEnd(16)} ${o.kind.padEnd(4)} ${formatBytes(o.size).padStart(10)}  sha256:${o.digest}`,
          ),
        ];
        ctx.stdout.write(`${lines.join("\n")}\n`);
      }),
    );

  cache
    .command("rm")
    .description(
      "remove action-cache entries (keys or unique key prefixes); their stages run again next time",
    )
    .argument("<key...>", "cache keys or prefixes")
    .option("--json", "print the removed entries as JSON")
    .action(async (keys: string[], opts: { json?: boolean }) =>
      withStore(ctx, async (store) => {
        // Every key is resolved before anything is removed: one typo removes nothing.
        const found = await Promise.all(keys.map((k) => findManifest(store, k)));
        const unique = [...new Map(found.map((m) => [m.key, m])).values()];
        for (const m of unique) await store.deleteManifest(m.key);
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

  cache
    .command("gc")
    .description(
      "remove cache entries older than --older-than, then every blob and log no kept entry references",
    )
    .option("-n, --dry-run", "only show what would be removed")
    .option("--older-than <duration>", "also remove cache entries older than this (e.g. 30d)")
    .option("--grace <duration>", "keep unreferenced blobs younger than this (in-flight stages)", "1h")
    .option("--json", "print the report as JSON")
    .action(async (opts: { dryRun?: boolean; olderThan?: string; grace: string; json?: boolean }) =>
      withStore(ctx, async (store) => {
        const { collectGarbage } = await import("../../shared/store/index.js");
        const report = await collectGarbage(store, {
          dryRun: opts.dryRun === true,
          blobGraceMs: parseDurationMs(opts.grace),
          ...(opts.olderThan === undefined ? {} : { maxManifestAgeMs: parseDurationMs(opts.olderThan) }),
        });
        if (opts.json === true) {
          ctx.stdout.write(`${JSON.stringify({ dryRun: opts.dryRun === true, ...report })}\n`);
          return;
        }
        const verb = opts.dryRun === true ? "would remove" : "removed";
        for (const k of report.manifestsRemoved) ctx.stdout.write(`${verb} cache entry ${shortDigest(k)}\n`);
        for (const b of report.blobsRemoved)
          ctx.stdout.write(`${verb} blob ${shortDigest(b.digest)} (${formatBytes(b.size)})\n`);
        for (const l of report.logsRemoved) ctx.stdout.write(`${verb} log ${l}\n`);
        ctx.stdout.write(
          `${verb} ${report.manifestsRemoved.length} entries, ${report.blobsRemoved.length} blobs (${formatBytes(report.bytesFreed)}), ${report.logsRemoved.length} logs; kept ${report.manifestsKept} entries\n`,
        );
      }),
    );
}
