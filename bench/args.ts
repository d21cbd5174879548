import { StagefarmError } from "../shared/errors.js";

/** Parses `[--size-mib N]` (default `defaultMiB`, at least 8); anything else is refused. */
export function parseSizeArgs(argv: readonly string[], defaultMiB = 1024): { sizeMiB: number } {
  let sizeMiB = defaultMiB;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--size-mib") {
      sizeMiB = Number(argv[++i]);
      if (!Number.isInteger(sizeMiB) || sizeMiB < 8)
        throw new StagefarmError(
          "invalid_argument",
          `--size-mib needs a whole number >= 8, got "${argv[i]}"`,
        );
    } else throw new StagefarmError("invalid_argument", `unknown argument "${a}" (usage: --size-mib N)`);
  }
  return { sizeMiB };
}

/** The whole number after `name` in argv (at least 1), or `fallback` when absent. */
export function intArg(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1)
    throw new StagefarmError(
      "invalid_argument",
      `${name} needs a whole number >= 1, got "${argv[i + 1] ?? ""}"`,
    );
  return v;
}
