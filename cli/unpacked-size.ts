/**
 * The agent's cap on what one input may unpack to (`--max-unpacked-size`,
 * STAGEFARM_MAX_UNPACKED_SIZE): a size such as 64G, or `off`. Enforced while the archive is
 * checked, before anything is written (shared/pack/unpack-limits.ts).
 */
import { z } from "zod";
// The limits module alone: the pack index would load execa and tar-stream at start.
import { DEFAULT_MAX_UNPACKED_BYTES } from "../shared/pack/unpack-limits.js";
import { parseMemoryLimit } from "../shared/pipeline/index.js";

/** "64G" → bytes; "off" → Infinity; anything else is an issue naming the flag. */
export const unpackedSize = z.string().transform((v, ctx) => {
  if (v.trim().toLowerCase() === "off") return Number.POSITIVE_INFINITY;
  const r = parseMemoryLimit(v);
  if (typeof r === "string") {
    ctx.addIssue({ code: "custom", message: `--max-unpacked-size: ${r}, or off` });
    return z.NEVER;
  }
  return r;
});

/** The raw value: flag, then environment, then the default. */
export function unpackedSizeSetting(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromEnv = env["STAGEFARM_MAX_UNPACKED_SIZE"];
  // Set but empty counts as unset, as for every other variable (cli/config.ts).
  return (
    flag ??
    (fromEnv === undefined || fromEnv === "" ? undefined : fromEnv) ??
    String(DEFAULT_MAX_UNPACKED_BYTES)
  );
}
