/**
 * Rendering of releng spec templates the way Gentoo's `tools/catalyst-auto` does: each of
 * `@TIMESTAMP@ @DATESTAMP@ @REPO_DIR@ @TREEISH@` is replaced everywhere in the text (a plain
 * global substitution, comments included), and nothing else is touched.
 *
 * Where catalyst-auto gets the values
 * - TIMESTAMP: the snapshot commit's committer date, `%Y%m%dT%H%M%SZ`
 *   (`git show --no-patch --format=%cd --date=format:%Y%m%dT%H%M%SZ <treeish>`).
 * - DATESTAMP: `date -u +%Y%m%d` when the build starts. Stagefarm derives it from TIMESTAMP
 *   instead (its date part) so a rendered spec depends only on pipeline data.
 * - REPO_DIR: the releng checkout's directory; TREEISH: the snapshot's git tree-ish.
 *
 * Any other `@WORD@` (upper-case letters, digits, `_`) outside a comment is an error naming
 * `file:line:col` and the placeholder (e.g. the procedure's misspelt `@REPODIR@`): Catalyst
 * would take it literally and fail much later, or worse, not at all.
 */
import { StagefarmError } from "../errors.js";
import { closest } from "../pipeline/suggest.js";

export const PLACEHOLDERS = ["TIMESTAMP", "DATESTAMP", "REPO_DIR", "TREEISH"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateVars = Readonly<Record<Placeholder, string>>;

const PLACEHOLDER_RE = /@([A-Z][A-Z0-9_]*)@/g;

function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/** `@NAME@` occurrences outside comments that are not one of {@link PLACEHOLDERS}. */
export function unknownPlaceholders(
  text: string,
  file: string,
): Array<{ name: string; line: number; col: number; where: string }> {
  const found: Array<{ name: string; line: number; col: number; where: string }> = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const hash = raw.indexOf("#");
    const code = hash >= 0 ? raw.slice(0, hash) : raw;
    for (const m of code.matchAll(PLACEHOLDER_RE)) {
      const name = m[1] ?? "";
      if (isPlaceholder(name)) continue;
      const line = i + 1;
      const col = (m.index ?? 0) + 1;
      found.push({ name, line, col, where: `${file}:${line}:${col}` });
    }
  }
  return found;
}

/**
 * Substitutes the four placeholders in `text`. Throws `invalid_pipeline` naming every unknown
 * placeholder (`file:line:col`), and when a value could break the spec's syntax.
 */
export function renderTemplate(text: string, vars: TemplateVars, file: string): string {
  const unknown = unknownPlaceholders(text, file);
  if (unknown.length > 0) {
    const list = unknown.map((u) => {
      const near = closest(u.name, PLACEHOLDERS);
      return `${u.where}: unknown placeholder @${u.name}@${near === undefined ? "" : ` (did you mean @${near}@?)`}`;
    });
    throw new StagefarmError(
      "invalid_pipeline",
      `${list.join("\n")}\n(a spec template may use only ${PLACEHOLDERS.map((p) => `@${p}@`).join(" ")})`,
      { details: { unknown } },
    );
  }
  for (const p of PLACEHOLDERS) {
    const v = vars[p];
    if (v === "" || /[\s#]/.test(v))
      throw new StagefarmError(
        "invalid_pipeline",
        `${file}: the value for @${p}@ must be one word without "#", got ${JSON.stringify(v)}`,
      );
  }
  return text.replace(PLACEHOLDER_RE, (whole, name: string) => (isPlaceholder(name) ? vars[name] : whole));
}

/**
 * DATESTAMP from a TIMESTAMP: its leading date as `YYYYMMDD` (`20250612T101500Z` and
 * `2025-06-12` both give `20250612`); undefined when it does not start with a date.
 */
export function datestampFromTimestamp(timestamp: string): string | undefined {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(timestamp);
  const [, y, mo, d] = m ?? [];
  if (y === undefined || mo === undefined || d === undefined) return undefined;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  return `${y}${mo}${d}`;
}
