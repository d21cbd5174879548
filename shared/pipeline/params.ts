/** Command-line param overrides (`--param NAME=VALUE`) and their check against a pipeline. */
import { StagefarmError } from "../errors.js";
import { quoted } from "../util/excerpt.js";
import { reservedKeyProblem } from "./rules.js";
import { didYouMean, listNames } from "./suggest.js";
import { paramRefOf } from "./templates.js";
import type { ParamSpec, PipelineSpec } from "./types.js";

/** Parses `NAME=VALUE` strings (split at the first "="; the value may be empty or hold "="). */
export function parseParamArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0)
      throw new StagefarmError(
        "invalid_argument",
        eq === 0
          ? `--param ${quoted(arg)}: the name before "=" is empty`
          : `--param ${quoted(arg)}: expected NAME=VALUE`,
      );
    const name = arg.slice(0, eq);
    // `out["__proto__"] = v` would be swallowed by Object.prototype's setter: refuse, never drop.
    const reserved = reservedKeyProblem(name);
    if (reserved !== undefined)
      throw new StagefarmError(
        "invalid_argument",
        `--param ${quoted(name)}: no param has this name; ${reserved}`,
      );
    if (Object.hasOwn(out, name))
      throw new StagefarmError("invalid_argument", `--param ${quoted(name)} is given twice`);
    out[name] = arg.slice(eq + 1);
  }
  return out;
}

/**
 * The longest param value, in bytes. Params reach scripts as environment variables, and Linux
 * refuses an environment string over 128 KiB (MAX_ARG_STRLEN) when the stage's process starts:
 * refused at submit instead, with the param's name, not as a stage failure hours later.
 */
export const MAX_PARAM_VALUE_BYTES = 64 * 1024;

export interface ParamValueOptions {
  /**
   * Leave required params that were not given out of the result instead of throwing (a plan
   * shows the pipeline before every value is known).
   */
  allowMissing?: boolean;
}

/**
 * The value of every param: the override when given, else the default. Unknown overrides throw,
 * and so do required params without a value unless `allowMissing` (then they are left out).
 */
export function paramValues(
  spec: PipelineSpec,
  overrides: Readonly<Record<string, string>>,
  opts: ParamValueOptions = {},
): Map<string, string> {
  const known = spec.params.map((p) => p.name);
  for (const name of Object.keys(overrides)) {
    if (known.includes(name)) continue;
    throw new StagefarmError(
      "invalid_argument",
      `unknown param ${quoted(name, 60)}${didYouMean(name, known)}; pipeline "${spec.name}" (${spec.file}) has params: ${listNames(known)}`,
      { details: { param: name, known } },
    );
  }
  const given = (p: ParamSpec): string | undefined =>
    Object.hasOwn(overrides, p.name) ? overrides[p.name] : p.default;
  const values = new Map<string, string>();
  const missing = [];
  for (const p of spec.params) {
    let value = given(p);
    // A default naming another param as a whole takes that param's value (one level).
    const ref = value !== undefined && value === p.default ? paramRefOf(value) : undefined;
    if (ref !== undefined) {
      const target = spec.params.find((t) => t.name === ref);
      value = target === undefined ? undefined : given(target);
    }
    if (value !== undefined && Buffer.byteLength(value) > MAX_PARAM_VALUE_BYTES)
      throw new StagefarmError(
        "invalid_argument",
        `param ${quoted(p.name, 60)} is ${Buffer.byteLength(value)} bytes long; a param value may be at most ${MAX_PARAM_VALUE_BYTES} bytes (params reach scripts as environment variables)`,
        { details: { param: p.name } },
      );
    if (value !== undefined) values.set(p.name, value);
    else if (p.default === undefined) missing.push(p);
  }
  if (missing.length > 0 && opts.allowMissing !== true) {
    const lines = missing.map((p) => `  --param ${p.name}=…${p.description ? `  (${p.description})` : ""}`);
    throw new StagefarmError(
      "invalid_argument",
      `pipeline "${spec.name}" (${spec.file}) needs ${missing.length === 1 ? "a value for a required param" : `values for ${missing.length} required params`}:\n${lines.join("\n")}`,
      { details: { missing: missing.map((p) => p.name) } },
    );
  }
  return values;
}

/** Names of the required params that `overrides` leaves without a value. */
export function missingParams(spec: PipelineSpec, overrides: Readonly<Record<string, string>>): string[] {
  const unset = (name: string): boolean => {
    const p = spec.params.find((x) => x.name === name);
    return p !== undefined && p.default === undefined && !Object.hasOwn(overrides, name);
  };
  return spec.params
    .filter((p) => {
      if (Object.hasOwn(overrides, p.name)) return false;
      if (p.default === undefined) return true;
      const ref = paramRefOf(p.default);
      return ref !== undefined && unset(ref);
    })
    .map((p) => p.name);
}
