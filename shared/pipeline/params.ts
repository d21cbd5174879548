/** Command-line param overrides (`--param NAME=VALUE`) and their check against a pipeline. */
import { StagefarmError } from "../errors.js";
import { didYouMean, listNames } from "./suggest.js";
import type { PipelineSpec } from "./types.js";

/** Parses `NAME=VALUE` strings (split at the first "="; the value may be empty or hold "="). */
export function parseParamArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0)
      throw new StagefarmError(
        "invalid_argument",
        eq === 0 ? `--param "${arg}": the name before "=" is empty` : `--param "${arg}": expected NAME=VALUE`,
      );
    const name = arg.slice(0, eq);
    if (Object.hasOwn(out, name))
      throw new StagefarmError("invalid_argument", `--param "${name}" is given twice`);
    out[name] = arg.slice(eq + 1);
  }
  return out;
}

/** The value of every param: the override when given, else the default. Unknown overrides throw. */
export function paramValues(
  spec: PipelineSpec,
  overrides: Readonly<Record<string, string>>,
): Map<string, string> {
  const known = spec.params.map((p) => p.name);
  for (const name of Object.keys(overrides)) {
    if (known.includes(name)) continue;
    throw new StagefarmError(
      "invalid_argument",
      `unknown param "${name}"${didYouMean(name, known)}; pipeline "${spec.name}" (${spec.file}) has params: ${listNames(known)}`,
      { details: { param: name, known } },
    );
  }
  return new Map(
    spec.params.map((p) => [
      p.name,
      Object.hasOwn(overrides, p.name) ? (overrides[p.name] ?? p.default) : p.default,
    ]),
  );
}
