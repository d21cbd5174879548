/**
 * Catalyst spec files: parsing and writing, with the syntax Catalyst's own SpecParser accepts.
 *
 * Syntax (as catalyst/config.py reads it)
 * - Each line is trimmed, then everything from the first `#` on (with the blanks before it) is
 *   dropped; lines left empty are skipped.
 * - A line holding a `:` starts an entry: the key is the text before the first `:`, the rest is
 *   its value (surrounding double quotes removed), split on whitespace into words.
 * - Any other line continues the previous entry: its words are appended (usually the values
 *   sit on tab-indented lines after `key:`).
 * - An entry with no words is dropped (Catalyst deletes empty keys); a later entry for the same
 *   key replaces an earlier one; one word is a string, several are a list.
 *   Quirk kept on purpose: a continuation line holding a `:` (e.g. a slot dependency
 *   `dev-lang/python:3.12`) starts a new entry, exactly as in Catalyst.
 *
 * Positions are 1-based lines of the text parsed, so errors can name `file:line`.
 */
import { StagefarmError } from "../errors.js";

export interface SpecEntry {
  key: string;
  /** Every word of the value, in order (key line first, then continuation lines). */
  values: string[];
  /** Line of `key:` (1-based). */
  line: number;
  /** Last line belonging to the entry: its last continuation line, or `line`. */
  endLine: number;
  /** How many of `values` were written on the key line itself. */
  inlineCount: number;
}

export interface SpecDocument {
  file: string;
  /** Entries in file order, duplicates included (the last one counts). */
  entries: SpecEntry[];
}

/** A setting as Catalyst sees it: one word is a string, several a list. */
export type SpecValue = string | string[];

const TRAILING_COMMENT = /\s*#.*$/;

/** The words of one line once trimmed and stripped of its comment ("" when nothing is left). */
function lineContent(raw: string): string {
  return raw.trim().replace(TRAILING_COMMENT, "");
}

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== "");
}

/** Parses spec text. Fails only where Catalyst would fail: a value line before any key. */
export function parseSpec(text: string, file: string): SpecDocument {
  const entries: SpecEntry[] = [];
  let current: SpecEntry | undefined;
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const lineNo = i + 1;
    const content = lineContent(raw);
    if (content === "") continue;
    const colon = content.indexOf(":");
    if (colon >= 0) {
      const value = content
        .slice(colon + 1)
        .trim()
        .replace(/^"+|"+$/g, "");
      const vs = words(value);
      current = {
        key: content.slice(0, colon),
        values: vs,
        line: lineNo,
        endLine: lineNo,
        inlineCount: vs.length,
      };
      entries.push(current);
      continue;
    }
    if (current === undefined)
      throw new StagefarmError(
        "invalid_pipeline",
        `${file}:${lineNo}: a value line before any "key:" line: ${JSON.stringify(content)}`,
      );
    current.values.push(...words(content));
    current.endLine = lineNo;
  }
  return { file, entries };
}

/** The settings Catalyst would read from `doc`: last entry per key wins, empty entries dropped. */
export function specSettings(doc: SpecDocument): Map<string, SpecValue> {
  const out = new Map<string, SpecValue>();
  for (const e of doc.entries) {
    if (e.values.length === 0) {
      out.delete(e.key);
      continue;
    }
    const [only] = e.values;
    out.set(e.key, e.values.length === 1 && only !== undefined ? only : [...e.values]);
  }
  return out;
}

/** A setting that must be one word (e.g. `target`, `source_subpath`); undefined when absent. */
export function specString(
  settings: ReadonlyMap<string, SpecValue>,
  key: string,
  file: string,
): string | undefined {
  const v = settings.get(key);
  if (v === undefined || typeof v === "string") return v;
  throw new StagefarmError(
    "invalid_pipeline",
    `${file}: "${key}" must be a single value, got ${v.length} words: ${v.join(" ")}`,
  );
}

/** Writes one entry: `key: a b` when its values were inline, a tab-indented block otherwise. */
export function formatSpecEntry(key: string, values: readonly string[], inlineCount = values.length): string {
  const inline = values.slice(0, inlineCount);
  const rest = values.slice(inlineCount);
  const head = inline.length > 0 ? `${key}: ${inline.join(" ")}` : `${key}:`;
  return [head, ...rest.map((v) => `\t${v}`)].join("\n") + "\n";
}

/** Writes entries back as a spec (comments and blank lines are not kept; entries are separated by one blank line when multi-line). */
export function serializeSpec(entries: readonly Pick<SpecEntry, "key" | "values" | "inlineCount">[]): string {
  let out = "";
  let prevBlock = false;
  for (const e of entries) {
    const block = e.inlineCount < e.values.length;
    if (out !== "" && (block || prevBlock)) out += "\n";
    out += formatSpecEntry(e.key, e.values, e.inlineCount);
    prevBlock = block;
  }
  return out;
}
