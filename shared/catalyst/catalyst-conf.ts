/**
 * catalyst.conf (TOML) from pipeline data.
 *
 * The file is built from three layers, later ones winning per top-level key:
 *   1. {@link RUNNER_CONF_DEFAULTS}: what Catalyst's shipped example config enables that a farm
 *      build needs (`digests`, so `.DIGESTS`/`.sha256` are written; the `pkgcache` option, so
 *      binary packages can be collected). Host-specific or resuming settings of the example
 *      (`envscript`, `autoresume`, `seedcache`, `kerncache`, `bindist`) are left out.
 *   2. The stage's `catalyst_conf` data.
 *   3. Keys the runner forces (`storedir`, inside the workspace); each one the pipeline had set
 *      to something else is reported so the log can say it was overridden.
 * Every other setting keeps Catalyst's built-in default (catalyst/defaults.py `confdefaults`),
 * `sharedir` included. Keys Catalyst does not know are refused (it would only log them), and so
 * are values of a type Catalyst 4.1.1 cannot use (./conf-check.ts).
 *
 * Catalyst %-formats every top-level string of its config with the config itself
 * (`value % conf_values`, main.py parse_config): a lone `%` crashes it. The text written doubles
 * every `%`, so Catalyst reads each value exactly as the pipeline wrote it.
 */
import { stringify } from "smol-toml";
import { StagefarmError } from "../errors.js";
import { confValueProblem, escapePercent } from "./conf-check.js";

export type TomlData = { [key: string]: TomlDataValue };
export type TomlDataValue = string | number | boolean | TomlDataValue[] | TomlData;

/** Catalyst's own defaults for the settings the runner reads back (catalyst/defaults.py). */
export const CATALYST_BUILTIN_DEFAULTS = {
  compression_mode: "lbzip2",
  repo_name: "gentoo",
  storedir: "/var/tmp/catalyst",
  sharedir: "/usr/share/catalyst",
} as const;

export const RUNNER_CONF_DEFAULTS: Readonly<TomlData> = {
  digests: ["blake2b", "sha512"],
  options: ["pkgcache"],
};

export interface ForcedKey {
  key: string;
  value: TomlDataValue;
  /** The pipeline's own value, when it set a different one. */
  overridden?: TomlDataValue;
}

export interface RenderedConf {
  /** The catalyst.conf text. */
  text: string;
  /** The settings written, defaults and forced keys included. */
  values: TomlData;
  forced: ForcedKey[];
}

export interface ConfLayers {
  /** The stage's `catalyst_conf`. */
  pipeline: Readonly<TomlData>;
  /** Defaults under the pipeline's data (default {@link RUNNER_CONF_DEFAULTS}). */
  defaults?: Readonly<TomlData>;
  /** Keys the runner sets whatever the pipeline says. */
  forced: Readonly<TomlData>;
}

function sameValue(a: TomlDataValue, b: TomlDataValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function renderCatalystConf(layers: ConfLayers): RenderedConf {
  for (const key of Object.keys(layers.pipeline)) {
    const problem = confValueProblem(key, layers.pipeline[key]);
    if (problem !== undefined)
      throw new StagefarmError("invalid_pipeline", `catalyst_conf.${key}: ${problem}`);
  }
  const merged: TomlData = { ...(layers.defaults ?? RUNNER_CONF_DEFAULTS), ...layers.pipeline };
  const forced: ForcedKey[] = [];
  for (const [key, value] of Object.entries(layers.forced)) {
    const had = Object.hasOwn(layers.pipeline, key) ? layers.pipeline[key] : undefined;
    forced.push(
      had !== undefined && !sameValue(had, value) ? { key, value, overridden: had } : { key, value },
    );
    merged[key] = value;
  }
  const values: TomlData = Object.fromEntries(
    Object.keys(merged)
      .sort()
      .map((k) => [k, merged[k] ?? ""]),
  );
  const header = "# catalyst.conf written by stagefarm's catalyst runner (pipeline data over its defaults)\n";
  const escaped: TomlData = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? escapePercent(v) : v]),
  );
  return { text: header + stringify(escaped), values, forced };
}

/** A string setting as Catalyst will see it: the written value, else Catalyst's default. */
export function confString(values: Readonly<TomlData>, key: keyof typeof CATALYST_BUILTIN_DEFAULTS): string {
  const v = values[key];
  return typeof v === "string" ? v : CATALYST_BUILTIN_DEFAULTS[key];
}

/** The `options` list as Catalyst will see it. */
export function confOptions(values: Readonly<TomlData>): string[] {
  const v = values["options"];
  if (Array.isArray(v)) return v.filter((o): o is string => typeof o === "string");
  return typeof v === "string" ? v.split(/\s+/).filter((o) => o !== "") : [];
}
