/**
 * `stagefarm binhost ls|show|rm|gc|conf|set|publish`: the farm binhosts. On a farm (a
 * coordinator named by `--coordinator` or STAGEFARM_COORDINATOR) every command goes through
 * the coordinator, the binhosts' single writer, over gRPC (viewer for ls/show/conf, admin for
 * the rest); otherwise on the local store through a BinhostService of this process, which takes
 * the store's lock on the binhost like the one in a running `stagefarm up` or `run` does, so
 * they may run while those write the same store. Which one is used is said on stderr
 * (../binhost/choose.ts).
 */
import type { Command } from "commander";
import type { BinhostGcReport } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { PublishResult } from "../../shared/protocol/binhost.js";
import type { BinhostBackend, UploadedFile } from "../binhost/backend.js";
import type { BinhostFlags } from "../binhost/choose.js";
import type { CliContext } from "../context.js";
import { collect, envOption, positiveInt } from "../options.js";
import { makeStyle } from "../output.js";
import { humanBytes } from "../../shared/util/bytes.js";
import { connectionOptions } from "./remote.js";

const DEFAULT_URL = "http://127.0.0.1:9464";

/** The backend the flags choose (../binhost/choose.ts), loaded when an action runs (cli/main.ts). */
async function withBackend<T>(
  ctx: CliContext,
  flags: BinhostFlags,
  writes: boolean,
  fn: (b: BinhostBackend) => Promise<T>,
): Promise<T> {
  return (await import("../binhost/choose.js")).withBackend(ctx, flags, writes, fn);
}

/** The farm connection options, and --s3 (the farm's store: read directly, or where publish uploads). */
function farmOptions(cmd: Command): Command {
  return connectionOptions(cmd).addOption(
    envOption(
      "--s3 <url>",
      "the farm's S3 store: read directly without --coordinator; where publish uploads with it",
      "STAGEFARM_S3_URL",
    ),
  );
}

function when(timestamp: number): string {
  return timestamp === 0 ? "never" : new Date(timestamp * 1000).toISOString().replace(".000Z", "Z");
}

function parseBool(flag: string): (v: string) => boolean {
  return (v) => {
    if (/^(yes|true|1)$/i.test(v)) return true;
    if (/^(no|false|0)$/i.test(v)) return false;
    throw new StagefarmError("invalid_argument", `${flag} takes yes or no, got "${v}"`);
  };
}

function headerPairs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new StagefarmError("invalid_argument", `--header takes KEY=VALUE, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function printGc(ctx: CliContext, r: BinhostGcReport): void {
  const verb = r.dryRun ? "would remove" : "removed";
  for (const c of r.removed)
    ctx.stdout.write(`${verb} ${c.path} (${c.cpv}, BUILD_ID ${c.buildId}, ${humanBytes(c.size)})\n`);
  for (const o of r.orphans) ctx.stdout.write(`${verb} ${o} (not in the index)\n`);
  ctx.stdout.write(
    `${verb} ${r.removed.length} build(s) and ${r.orphans.length} unindexed file(s), ${humanBytes(r.bytesFreed)}; kept ${r.kept} (newest ${r.keep} per CPV and USE)${r.dryRun ? "" : `; TIMESTAMP ${r.timestamp}`}\n`,
  );
}

export function registerBinhost(program: Command, ctx: CliContext): void {
  const bh = program
    .command("binhost")
    .description(
      "inspect and maintain the farm binhosts (portage binary packages): a farm's through its coordinator, else the local store",
    );

  farmOptions(bh.command("ls"))
    .description("list binhosts")
    .option("--json", "one JSON object per line")
    .action(async (opts: { json?: boolean } & BinhostFlags) =>
      withBackend(ctx, opts, false, async (s) => {
        const all = await s.list();
        if (opts.json === true) {
          for (const b of all) ctx.stdout.write(`${JSON.stringify(b)}\n`);
          return;
        }
        const c = makeStyle(ctx.color(ctx.stdout));
        for (const b of all)
          ctx.stdout.write(
            `${b.name.padEnd(24)} ${String(b.packages).padStart(6)} packages  ${humanBytes(b.bytes).padStart(10)}  ${c.dim(`updated ${when(b.timestamp)}`)}\n`,
          );
        ctx.stdout.write(`${all.length} binhost(s) in ${s.where}\n`);
      }),
    );

  farmOptions(bh.command("show"))
    .description("show a binhost's index header, settings and packages with who published them")
    .argument("<name>", "binhost name")
    .option("--json", "print everything as JSON")
    .action(async (name: string, opts: { json?: boolean } & BinhostFlags) =>
      withBackend(ctx, opts, false, async (s) => {
        const d = await s.show(name);
        if (opts.json === true) {
          ctx.stdout.write(`${JSON.stringify(d)}\n`);
          return;
        }
        const c = makeStyle(ctx.color(ctx.stdout));
        const width = Math.max(0, ...d.entries.map((e) => e.path.length));
        const lines = [
          `binhost:  ${d.name} (${d.packages} packages, ${humanBytes(d.bytes)}, TIMESTAMP ${d.timestamp} = ${when(d.timestamp)})`,
          `settings: priority ${d.settings.priority}, verify-signature ${d.settings.verifySignature ? "true" : "false"}${d.settings.location === undefined ? "" : `, location ${d.settings.location}`}`,
          "header:",
          ...Object.entries(d.header).map(([k, v]) => `  ${k}: ${v}`),
          "packages:",
          ...d.entries.map((e) => {
            const by =
              e.record === undefined ? "" : [e.record.stage, e.record.agent].filter((x) => x).join(" on ");
            // A package added by `binhost publish` has a record without a stage or agent.
            const who =
              e.record === undefined
                ? "(no record)"
                : by === ""
                  ? `published ${e.record.publishedAt}`
                  : `by ${by}`;
            return `  ${e.path.padEnd(width)}  ${humanBytes(e.size).padStart(10)}  ${c.dim(who)}`;
          }),
        ];
        ctx.stdout.write(`${lines.join("\n")}\n`);
      }),
    );

  farmOptions(bh.command("rm"))
    .description("remove a package (its PATH) or every build of a CPV from a binhost")
    .argument("<name>", "binhost name")
    .argument(
      "<path-or-cpv>",
      "e.g. dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar or dev-libs/libsigc++-2.12.1",
    )
    .option("--json", "print the report as JSON")
    .action(async (name: string, target: string, opts: { json?: boolean } & BinhostFlags) =>
      withBackend(ctx, opts, true, async (s) => {
        const r = await s.remove(name, target);
        if (opts.json === true) {
          ctx.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        for (const p of r.removed) ctx.stdout.write(`removed ${p}\n`);
        ctx.stdout.write(`removed ${r.removed.length} package(s) from ${name}; TIMESTAMP ${r.timestamp}\n`);
      }),
    );

  farmOptions(bh.command("gc"))
    .description("keep the newest N builds per CPV and USE, remove the rest (try --dry-run first)")
    .argument("<name>", "binhost name")
    .option("--keep <n>", "builds to keep per CPV and USE", positiveInt("--keep"), 1)
    .option("-n, --dry-run", "only show what would be removed")
    .option("--json", "print the report as JSON")
    .action(async (name: string, opts: { keep: number; dryRun?: boolean; json?: boolean } & BinhostFlags) =>
      withBackend(ctx, opts, opts.dryRun !== true, async (s) => {
        const r = await s.gc(name, { keep: opts.keep, dryRun: opts.dryRun === true });
        if (opts.json === true) ctx.stdout.write(`${JSON.stringify(r)}\n`);
        else printGc(ctx, r);
      }),
    );

  farmOptions(bh.command("conf"))
    .description("print a binrepos.conf stanza for a binhost (put it in /etc/portage/binrepos.conf/)")
    .argument("<name>", "binhost name")
    .addOption(
      envOption(
        "--url <base>",
        `where the farm's HTTP server is reachable (default ${DEFAULT_URL})`,
        "STAGEFARM_BINHOST_URL",
      ),
    )
    .action(async (name: string, opts: { url?: string } & BinhostFlags) =>
      withBackend(ctx, opts, false, async (s) => {
        const base = opts.url ?? DEFAULT_URL;
        // An unknown binhost is refused (not_found), not given a stanza portage would 404 on.
        const d = await s.show(name);
        const { renderBinreposConf } = await import("../../coordinator/index.js");
        ctx.stdout.write(renderBinreposConf(d.name, base, d.settings));
      }),
    );

  farmOptions(bh.command("set"))
    .description("configure a binhost: index header keys and the binrepos.conf values `conf` prints")
    .argument("<name>", "binhost name")
    .option("--header <KEY=VALUE>", "set an index header key, e.g. ARCH=amd64 (repeatable)", collect, [])
    .option("--unset-header <KEY>", "remove a configured header key (repeatable)", collect, [])
    .option("--priority <n>", "binrepos.conf priority", (v: string) => {
      if (!/^-?\d+$/.test(v))
        throw new StagefarmError("invalid_argument", `--priority must be an integer, got "${v}"`);
      return Number(v);
    })
    .option("--verify-signature <yes|no>", "binrepos.conf verify-signature", parseBool("--verify-signature"))
    .option("--location <dir>", "binrepos.conf location (where clients keep this binhost's packages)")
    .option("--no-location", "remove the location")
    .option("--json", "print the settings as JSON")
    .action(
      async (
        name: string,
        opts: {
          header: string[];
          unsetHeader: string[];
          priority?: number;
          verifySignature?: boolean;
          location?: string | false;
          json?: boolean;
        } & BinhostFlags,
      ) =>
        withBackend(ctx, opts, true, async (s) => {
          const header: Record<string, string | null> = headerPairs(opts.header);
          for (const k of opts.unsetHeader) header[k] = null;
          const settings = await s.configure(name, {
            header,
            ...(opts.priority === undefined ? {} : { priority: opts.priority }),
            ...(opts.verifySignature === undefined ? {} : { verifySignature: opts.verifySignature }),
            ...(opts.location === undefined
              ? {}
              : { location: opts.location === false ? null : opts.location }),
          });
          ctx.stdout.write(
            opts.json === true
              ? `${JSON.stringify(settings)}\n`
              : `binhost ${name}: ${JSON.stringify(settings)}\n`,
          );
        }),
    );

  farmOptions(bh.command("publish"))
    .description(
      "add package files built elsewhere to a binhost (gpkg or xpak): checked, stored, published all or nothing",
    )
    .argument("<files...>", "binary package files, e.g. expat-2.6.2-1.gpkg.tar")
    .requiredOption("--binhost <name>", "the binhost to publish to")
    .option("--json", "print the result as JSON")
    .action(async (files: string[], opts: { binhost: string; json?: boolean } & BinhostFlags) =>
      withBackend(ctx, opts, true, async (s) => {
        const { publishFiles } = await import("../binhost/publish.js");
        const { result, uploaded } = await publishFiles(s, opts.binhost, files);
        if (opts.json === true) ctx.stdout.write(`${JSON.stringify(withFiles(result, uploaded))}\n`);
        else printPublished(ctx, result, uploaded);
      }),
    );
}

function withFiles(r: PublishResult, files: readonly UploadedFile[]): PublishResult {
  const file = new Map(files.map((f) => [f.digest, f.file]));
  return { ...r, packages: r.packages.map((p) => ({ ...p, file: file.get(p.digest) ?? "" })) };
}

function printPublished(ctx: CliContext, r: PublishResult, files: readonly UploadedFile[]): void {
  const file = new Map(files.map((f) => [f.digest, f.file]));
  for (const p of r.packages) {
    const from = file.get(p.digest) ?? `sha256:${p.digest.slice(0, 12)}`;
    const renumbered = p.renumberedFrom === undefined ? "" : `, renumbered from BUILD_ID ${p.renumberedFrom}`;
    ctx.stdout.write(
      p.duplicate
        ? `${from}: already published as ${p.path}\n`
        : `published ${from} as ${p.path} (${p.cpv}, BUILD_ID ${p.buildId}${renumbered})\n`,
    );
  }
  const added = r.packages.filter((p) => !p.duplicate).length;
  ctx.stdout.write(
    `published ${added} package(s) to ${r.binhost} (${r.packages.length - added} already there); ${r.total} in the index, TIMESTAMP ${r.timestamp}\n`,
  );
}
