/**
 * `stagefarm get RUN STAGE OUTPUT [-o PATH]` and `stagefarm get DIGEST [-o PATH]`: takes an
 * output home. From a coordinator's gRPC API (`--coordinator` and the other client flags of the
 * remote commands: GetArtifact), from an HTTP server with `--url` (`stagefarm up`, or the
 * coordinator's `--http`; env STAGEFARM_URL), else blobs by digest from the local store. A tree output is
 * unpacked into a new directory (safely: shared/pack), or kept as its tar.zst with `--tar`;
 * `-o -` writes the bytes to stdout. The sha256 is checked against the farm's record while
 * writing; an existing path is replaced only with `--force`.
 */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import type { SourceFlags } from "../get/choose-source.js";
import { envOption } from "../options.js";
import { humanBytes } from "../../shared/util/bytes.js";
import { connectionOptions } from "./remote.js";

interface GetFlags extends SourceFlags {
  output?: string;
  tar?: boolean;
  force?: boolean;
  url?: string;
  json?: boolean;
}

export function registerGet(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("get")
    .description("download an output of a run's stage (RUN STAGE OUTPUT) or a blob (DIGEST), verified")
    .argument("<ref...>", "RUN STAGE OUTPUT, or DIGEST")
    .option("-o, --output <path>", "where to write it (default: STAGE-OUTPUT or the digest; - for stdout)")
    .option("--tar", "keep a tree output as its tar.zst instead of unpacking it")
    .option("--force", "replace an existing path")
    .addOption(
      envOption(
        "--url <url>",
        "read from a farm's HTTP server instead, http(s)://HOST:PORT",
        "STAGEFARM_URL",
      ),
    )
    .option("--json", "print what was written as JSON");
  connectionOptions(cmd).action(async (args: string[], flags: GetFlags) => {
    const { targetOf, withSource } = await import("../get/choose-source.js");
    const target = targetOf(args);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once("SIGINT", stop);
    try {
      await withSource(ctx, flags, async (source) => {
        const d = await source.open(target, abort.signal);
        const unpack = d.info.kind === "tree" && flags.tar !== true;
        const dest = flags.output ?? (unpack ? d.info.filename.replace(/\.tar\.zst$/, "") : d.info.filename);
        const tree = unpack && dest !== "-";
        const { writeDownload } = await import("../get/write-download.js");
        const written = await writeDownload(d, {
          dest,
          extract: tree,
          force: flags.force === true,
          stdout: ctx.stdout,
          signal: abort.signal,
        });
        const report = {
          path: written,
          sha256: d.info.digest,
          size: d.info.size,
          kind: d.info.kind,
          unpacked: tree,
        };
        const out = written === "-" ? ctx.stderr : ctx.stdout;
        if (flags.json === true) out.write(`${JSON.stringify(report)}\n`);
        else
          out.write(
            `${tree ? "unpacked" : "wrote"} ${written} (${humanBytes(d.info.size)}, sha256 ${d.info.digest} verified)\n`,
          );
      });
    } finally {
      process.off("SIGINT", stop);
    }
  });
}
