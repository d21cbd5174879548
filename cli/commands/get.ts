/**
 * `stagefarm get RUN STAGE OUTPUT [-o PATH]` and `stagefarm get DIGEST [-o PATH]`: takes an
 * output home. From a coordinator's gRPC API (`--coordinator` and the other client flags of the
 * remote commands: GetArtifact), from an HTTP server with `--url` (`stagefarm up`, or the
 * coordinator's `--http`; env STAGEFARM_URL), else blobs by digest from the local store. A tree output is
 * unpacked into a new directory (safely: shared/pack), or kept as its tar.zst with `--tar`;
 * `-o -` writes the bytes to stdout. The sha256 is checked against the farm's record while
 * writing; an existing path is replaced only with `--force`.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { isLoopbackHost } from "../../coordinator/auth/exposure.js";
import type { DownloadTarget } from "../../coordinator/downloads/index.js";
import { parseDownloadPath } from "../../coordinator/downloads/download-target.js";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import { formatBytes } from "./cache.js";
import type { ClientFlags } from "../distributed-config.js";
import {
  grpcSource,
  httpSource,
  storeSource,
  targetPath,
  type DownloadSource,
} from "../get/download-source.js";
import { connectionOptions } from "./remote.js";
import { envOption } from "../options.js";

interface GetFlags extends ClientFlags {
  output?: string;
  tar?: boolean;
  force?: boolean;
  url?: string;
  json?: boolean;
}

/** The target the arguments name, validated by the same grammar the server applies. */
function targetOf(args: string[]): DownloadTarget {
  const path =
    args.length === 1
      ? `/api/v1/artifacts/${encodeURIComponent(args[0] ?? "")}`
      : args.length === 3
        ? targetPath({ t: "output", run: args[0] ?? "", stage: args[1] ?? "", output: args[2] ?? "" })
        : undefined;
  const t = path === undefined ? undefined : parseDownloadPath(path);
  if (t === undefined)
    throw new StagefarmError("invalid_argument", "usage: get RUN STAGE OUTPUT | get DIGEST");
  return t;
}

async function withSource<T>(
  ctx: CliContext,
  flags: GetFlags,
  fn: (s: DownloadSource) => Promise<T>,
): Promise<T> {
  const url = flags.url;
  const coordinator = flags.coordinator;
  if ((url === undefined || url === "") && coordinator !== undefined && coordinator !== "") {
    const { withClient } = await import("./remote-client.js");
    return withClient(flags, (client) => fn(grpcSource(client)));
  }
  if (url === undefined || url === "") {
    const { FsArtifactStore } = await import("../../shared/store/index.js");
    const store = await FsArtifactStore.open(ctx.config().storeDir);
    try {
      return await fn(storeSource(store));
    } finally {
      await store.close();
    }
  }
  const token = flags.token;
  const ca = flags.ca;
  const u = new URL(url);
  if (token !== undefined && u.protocol === "http:" && !isLoopbackHost(u.hostname) && flags.insecure !== true)
    throw new StagefarmError(
      "invalid_argument",
      `refusing to send a token in clear text to ${u.host}: use an https:// URL, or --insecure`,
    );
  return fn(
    httpSource({
      url,
      ...(token === undefined || token === "" ? {} : { token }),
      ...(ca === undefined || ca === "" ? {} : { ca: await readFile(ca) }),
    }),
  );
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
            `${tree ? "unpacked" : "wrote"} ${written} (${formatBytes(d.info.size)}, sha256 ${d.info.digest} verified)\n`,
          );
      });
    } finally {
      process.off("SIGINT", stop);
    }
  });
}
