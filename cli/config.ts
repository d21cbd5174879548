/**
 * CLI configuration: flags with environment fallbacks, parsed once here and validated with one
 * schema. Nothing below the CLI reads process.env.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { unpackedSize, unpackedSizeSetting } from "./unpacked-size.js";

export interface GlobalFlags {
  store?: string;
  workDir?: string;
  logLevel?: string;
}

const schema = z.object({
  storeDir: z.string().min(1),
  workDir: z.string().min(1),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  /** The local agent's cap on one unpacked input (STAGEFARM_MAX_UNPACKED_SIZE). */
  maxUnpackedBytes: unpackedSize,
});

export type LocalConfig = z.infer<typeof schema>;

/** Resolves the embedded farm's directories: flag, then environment, then ~/.cache/stagefarm. */
export function localConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv): LocalConfig {
  const base = join(env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "stagefarm");
  const parsed = schema.safeParse({
    storeDir: resolve(flags.store ?? env["STAGEFARM_STORE"] ?? join(base, "store")),
    workDir: resolve(flags.workDir ?? env["STAGEFARM_WORK_DIR"] ?? join(base, "work")),
    logLevel: flags.logLevel ?? env["STAGEFARM_LOG_LEVEL"] ?? "warn",
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
