/**
 * The embedded farm's configuration: flags (with their environment variables, cli/options.ts),
 * parsed once here and validated with one schema. Nothing below the CLI reads process.env.
 */
import { join, resolve } from "node:path";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { unpackedSize, unpackedSizeSetting } from "./unpacked-size.js";
import { xdgDir } from "./xdg.js";

export interface GlobalFlags {
  store?: string;
  workDir?: string;
  logLevel?: string;
  logFormat?: string;
}

const schema = z.object({
  storeDir: z.string().min(1),
  workDir: z.string().min(1),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  /** `auto`: rendered for people when stderr is a terminal, else JSON lines. */
  logFormat: z.enum(["auto", "json", "pretty"]),
  /** The local agent's cap on one unpacked input (STAGEFARM_MAX_UNPACKED_SIZE). */
  maxUnpackedBytes: unpackedSize,
});

export type LocalConfig = z.infer<typeof schema>;

/**
 * Resolves the embedded farm's settings. `flags` already hold what the command line or the
 * environment gave (commander's Option.env, cli/main.ts); what neither gave defaults to
 * $XDG_CACHE_HOME/stagefarm (~/.cache/stagefarm).
 */
export function localConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv): LocalConfig {
  const base = join(xdgDir(env, "XDG_CACHE_HOME", ".cache"), "stagefarm");
  const flag = (v: string | undefined): string | undefined => (v === "" ? undefined : v);
  const parsed = schema.safeParse({
    storeDir: resolve(flag(flags.store) ?? join(base, "store")),
    workDir: resolve(flag(flags.workDir) ?? join(base, "work")),
    logLevel: flag(flags.logLevel) ?? "warn",
    logFormat: flag(flags.logFormat) ?? "auto",
    maxUnpackedBytes: unpackedSizeSetting(undefined, env),
  });
  if (!parsed.success)
    throw new StagefarmError("invalid_argument", `invalid configuration: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

// Older registration code imports the option helpers from here; they live in ./options.js.
export { xdgDir } from "./xdg.js";
