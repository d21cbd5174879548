/**
 * CLI configuration: flags with environment fallbacks, parsed once here and validated with one
 * schema. Nothing below the CLI reads process.env.
 */
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { unpackedSize, unpackedSizeSetting } from "./unpacked-size.js";

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

/** An environment variable's value, with set-but-empty treated as unset (as service managers leave them). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

/**
 * The XDG base directory `name` (e.g. XDG_CACHE_HOME), or `$HOME/<fallback>`. Per the XDG Base
 * Directory spec an unset or empty variable means the default, and a relative path is invalid
 * and ignored (it would put the cache under whatever the current directory is).
 */
export function xdgDir(env: NodeJS.ProcessEnv, name: string, fallback: string, home = homedir()): string {
  const v = envValue(env, name);
  return v !== undefined && isAbsolute(v) ? v : join(home, fallback);
}

/** Resolves the embedded farm's directories: flag, then environment, then ~/.cache/stagefarm. */
export function localConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv): LocalConfig {
  const base = join(xdgDir(env, "XDG_CACHE_HOME", ".cache"), "stagefarm");
  const parsed = schema.safeParse({
    storeDir: resolve(flags.store ?? envValue(env, "STAGEFARM_STORE") ?? join(base, "store")),
    workDir: resolve(flags.workDir ?? envValue(env, "STAGEFARM_WORK_DIR") ?? join(base, "work")),
    logLevel: flags.logLevel ?? envValue(env, "STAGEFARM_LOG_LEVEL") ?? "warn",
    logFormat: flags.logFormat ?? envValue(env, "STAGEFARM_LOG_FORMAT") ?? "auto",
    maxUnpackedBytes: unpackedSizeSetting(undefined, env),
  });
  if (!parsed.success)
    throw new StagefarmError("invalid_argument", `invalid configuration: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Parses a positive integer flag value (commander hands strings). */
export function positiveInt(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new StagefarmError("invalid_argument", `${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

/** Collects repeated `--param k=v` flags. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
