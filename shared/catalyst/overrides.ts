/**
 * Per-stage spec overrides (`source_subpath`, `version_stamp`, …) applied to a rendered spec.
 *
 * The text is edited in place so the log shows the spec as written, comments included: the
 * lines of the key's first entry are replaced by the new value (`key: value` for a string, a
 * tab-indented block for a list), later entries of the same key are removed (Catalyst would
 * let them win), and a key the spec lacks is appended at the end. A key no Catalyst target
 * accepts is refused (./spec-keys.ts); a `%` in a one-line value is written as `%%`, since
 * Catalyst %-formats the value on a key line (a lone `%` crashes it).
 */
import { StagefarmError } from "../errors.js";
import { escapePercent } from "./conf-check.js";
import { overrideKeyProblem } from "./spec-keys.js";
import { formatSpecEntry, parseSpec } from "./spec.js";

export type SpecOverrides = Readonly<Record<string, string | readonly string[]>>;

/** A spec key as Catalyst names them: `source_subpath`, `livecd/iso`, `boot/kernel/gentoo/config`. */
export const SPEC_KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

/** Why a value cannot be written into a spec as given, or undefined when it can. */
export function overrideValueProblem(value: string | readonly string[]): string | undefined {
  const items = typeof value === "string" ? [value] : value;
  if (items.length === 0) return "a list needs at least one value";
  for (const v of items) {
    if (v.trim() === "") return "values must not be empty";
    if (/[\n\r]/.test(v)) return "values must be on one line (use a list for several lines)";
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    if (/[\u0000-\u001f\u007f]/.test(v)) return "values must not contain control characters";
    if (v.includes("#")) return 'values must not contain "#" (Catalyst reads the rest as a comment)';
    if (typeof value !== "string" && /\s/.test(v.trim()))
      return `list items must be single words, got ${JSON.stringify(v)}`;
  }
  return undefined;
}

function entryText(key: string, value: string | readonly string[]): string {
  // Catalyst %-formats a key line's value (config.py: `mobjs[1] % values`), not the lines after it.
  if (typeof value === "string") return `${key}: ${escapePercent(value.trim())}\n`;
  return formatSpecEntry(key, value, 0);
}

/** `text` with every override applied (see the module comment). */
export function applySpecOverrides(text: string, overrides: SpecOverrides, file: string): string {
  let lines = text.split("\n");
  for (const [key, value] of Object.entries(overrides)) {
    if (!SPEC_KEY_RE.test(key))
      throw new StagefarmError(
        "invalid_pipeline",
        `${file}: override key ${JSON.stringify(key)} is not a spec key`,
      );
    const keyProblem = overrideKeyProblem(key);
    if (keyProblem !== undefined)
      throw new StagefarmError("invalid_pipeline", `${file}: override ${keyProblem}`);
    const problem = overrideValueProblem(value);
    if (problem !== undefined)
      throw new StagefarmError("invalid_pipeline", `${file}: override "${key}": ${problem}`);
    const doc = parseSpec(lines.join("\n"), file);
    const matches = doc.entries.filter((e) => e.key === key);
    const replacement = entryText(key, value).replace(/\n$/, "").split("\n");
    const first = matches[0];
    if (first === undefined) {
      const body = lines.join("\n").replace(/\n*$/, "");
      lines = [...(body === "" ? [] : body.split("\n")), ...replacement, ""];
      continue;
    }
    // Remove later entries first (bottom up) so earlier line numbers stay valid.
    for (const e of matches.slice(1).reverse()) lines.splice(e.line - 1, e.endLine - e.line + 1);
    lines.splice(first.line - 1, first.endLine - first.line + 1, ...replacement);
  }
  return lines.join("\n");
}
