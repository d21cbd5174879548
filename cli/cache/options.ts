/**
 * The options of `stagefarm cache`, `plan` and `stats` that choose their store, and the lazy way
 * into ./choose.ts (cli/main.ts: registrations load no implementation).
 */
import type { Command } from "commander";
import { connectionOptions } from "../commands/remote.js";
import type { CliContext } from "../context.js";
import type { ClientFlags } from "../distributed-config.js";
import { envOption } from "../options.js";
import type { CacheSource } from "./source.js";

export type CacheFlags = ClientFlags & { s3?: string };

/** The farm connection options, and --s3 (a farm's store read directly). */
export function cacheSourceOptions(cmd: Command): Command {
  return connectionOptions(cmd).addOption(
    envOption(
      "--s3 <url>",
      "a farm's S3 store read directly, without --coordinator; reads only",
      "STAGEFARM_S3_URL",
    ),
  );
}

/** Runs `fn` on the source the flags choose (./choose.ts), loaded when an action runs. */
export async function withCacheSource<T>(
  ctx: CliContext,
  command: string,
  flags: CacheFlags,
  writes: boolean,
  fn: (s: CacheSource) => Promise<T>,
): Promise<T> {
  return (await import("./choose.js")).withCacheSource(ctx, command, flags, writes, fn);
}
