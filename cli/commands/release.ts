/**
 * `stagefarm release RUN [STAGE:OUTPUT…] --name NAME [--arch amd64] [--stamp STAMP]`: publishes
 * outputs of a run as a release in Gentoo's mirror layout and promotes `latest-<name>`
 * (shared/release), through the coordinator's PublishRelease (the store's single writer; the
 * admin role). `--pipeline FILE [-p k=v]` instead releases what `stagefarm run FILE` left in the
 * local store, written by this process under the store's lock (../release-local.ts).
 * `--expect none|DIGEST` makes the compare-and-set explicit; a lost race exits 1 with a
 * `conflict` error. `stagefarm release log NAME` lists the promotions of a pointer: from the
 * coordinator (ReleaseLog), or with `--local` from the local store.
 */
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import type { ClientFlags } from "../distributed-config.js";
import type { Promotion } from "../../shared/release/index.js";
import { collect } from "../options.js";
import { makeStyle } from "../output.js";
import { connectionOptions } from "./remote.js";

interface ReleaseFlags extends ClientFlags {
  name?: string;
  pipeline?: string;
  param: string[];
  arch: string;
  stamp?: string;
  expect?: string;
  signKey?: string;
  json?: boolean;
}

/** A promotion as the CLI prints it (`--json`): the same fields from the API or a local store. */
export type PromotionView = Promotion;

function line(p: PromotionView): string {
  const seeds = p.seeds.map((s) => `${s.release}@${s.digest.slice(0, 12)}`).join(", ");
  return `#${p.generation}  ${p.at}  ${p.arch}/${p.stamp}  sha256 ${p.digest}  run ${p.run}${seeds === "" ? "" : `  seeds ${seeds}`}${p.by === undefined ? "" : `  by ${p.by}`}`;
}

export function registerRelease(program: Command, ctx: CliContext): void {
  const release = connectionOptions(
    program
      .command("release")
      .description(
        "publish outputs of a run as a Gentoo-layout release and promote latest-NAME (release log NAME: its promotions)",
      )
      .argument("[run]", "the run whose outputs are released (a coordinator's; or see --pipeline)")
      .argument(
        "[outputs...]",
        "STAGE:OUTPUT (default: every file output with a release extension, .tar.xz, .iso, …)",
      )
      .option("--name <name>", "release name, e.g. stage3-amd64-openrc (files are NAME-STAMP.EXT)")
      .option("--arch <arch>", "releases/ARCH/autobuilds/…", "amd64")
      .option("--stamp <stamp>", "the release stamp (default: now, as YYYYMMDDTHHMMSSZ)")
      .option("--expect <none|digest>", "promote only if the pointer names this digest (none: nothing yet)")
      .option("--sign-key <keyid>", "sign the files with this key of the coordinator's GPG keyring")
      .option("--json", "print the promotion as JSON")
      .option(
        "--pipeline <file>",
        "release from the local store what `stagefarm run FILE` built (no coordinator)",
      )
      .option(
        "-p, --param <key=value>",
        "with --pipeline: the params the pipeline ran with (repeatable)",
        collect,
        [],
      ),
  ).action(async (run: string | undefined, outputs: string[], flags: ReleaseFlags) => {
    // Checked here, not as a required option: `release log NAME` is a subcommand of this command.
    if (flags.name === undefined) throw new StagefarmError("invalid_argument", "release needs --name NAME");
    const request = {
      name: flags.name,
      arch: flags.arch,
      ...(flags.stamp === undefined ? {} : { stamp: flags.stamp }),
    };
    let released: { name: string; promotion: PromotionView };
    if (flags.pipeline !== undefined) {
      if (run !== undefined) outputs.unshift(run);
      const { releaseLocal } = await import("../release-local.js");
      const { parseParamArgs } = await import("../../shared/pipeline/index.js");
      const { expectationOf } = await import("../../coordinator/index.js");
      const { releaseName } = await import("../../shared/release/index.js");
      const expect = expectationOf(flags.expect ?? "");
      const cfg = ctx.config();
      const promotion = await releaseLocal({
        storeDir: cfg.storeDir,
        file: flags.pipeline,
        params: parseParamArgs(flags.param),
        outputs,
        logger: ctx.logger(cfg.logLevel),
        request: { ...request, ...(expect === undefined ? {} : { expect }) },
        ...(flags.signKey === undefined ? {} : { signKey: flags.signKey }),
      });
      released = { name: releaseName(flags.name), promotion };
    } else {
      if (run === undefined)
        throw new StagefarmError("invalid_argument", "release needs RUN (or --pipeline FILE)");
      const { withClient } = await import("./remote-client.js");
      const { promotionView } = await import("../release-view.js");
      released = await withClient(flags, async (client) => {
        const res = await client.publishRelease({
          ...request,
          runId: run,
          outputs,
          stamp: flags.stamp ?? "",
          expect: flags.expect ?? "",
          signKey: flags.signKey ?? "",
        });
        if (res.promotion === undefined)
          throw new StagefarmError("internal", "the coordinator sent no promotion");
        return { name: res.name, promotion: promotionView(res.promotion) };
      });
    }
    const p = released.promotion;
    if (flags.json === true) ctx.stdout.write(`${JSON.stringify({ name: released.name, ...p })}\n`);
    else {
      const c = makeStyle(ctx.color(ctx.stdout));
      ctx.stdout.write(`${c.green("promoted")} latest-${released.name} → generation ${p.generation}\n`);
      for (const f of p.files)
        ctx.stdout.write(
          `  releases/${p.arch}/autobuilds/${p.stamp}/${f.file}  (${f.stage}:${f.output}, sha256 ${f.digest})\n`,
        );
    }
  });
  connectionOptions(
    release
      .command("log")
      .description("the promotions of a release pointer, oldest first: digest, run, seeds, time")
      .argument("<name>", "release name (latest- optional)")
      .option("--local", "read the embedded farm's store instead of a coordinator")
      .option("--json", "print JSON"),
  ).action(async (name: string, _opts: unknown, cmd: Command) => {
    // Client flags written after `log` may be taken by `release` itself (it has the same ones).
    const flags = cmd.optsWithGlobals<ClientFlags & { json?: boolean; local?: boolean }>();
    const { remoteLog, localLog } = await import("../release-view.js");
    const log =
      flags.local === true ? await localLog(ctx.config().storeDir, name) : await remoteLog(flags, name);
    if (flags.json === true) ctx.stdout.write(`${JSON.stringify(log)}\n`);
    else for (const p of log.promotions) ctx.stdout.write(`${line(p)}\n`);
  });
}
