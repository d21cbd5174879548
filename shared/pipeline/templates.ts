/**
 * `${{ params.NAME }}` templates in pipeline strings. Substitution is a single pass: a param's
 * value is inserted as is and never scanned for templates again. There is no escape syntax.
 * Because a value is inserted as is, where a template may stand and what its value may hold
 * depends on where the text goes: ./template-context.ts (params never become code).
 */
import { StagefarmError } from "../errors.js";

const TEMPLATE_RE = /\$\{\{(.*?)\}\}/gs;
const PARAM_EXPR_RE = /^\s*params\.([A-Za-z0-9_-]+)\s*$/;

export interface TemplateRef {
  /** The whole match, e.g. `${{ params.cflags }}`. */
  text: string;
  /** The param named, or undefined for an unsupported expression. */
  param: string | undefined;
  index: number;
}

export interface TemplateScan {
  refs: TemplateRef[];
  /** Offsets of `${{` with no closing `}}`. */
  unterminated: number[];
}

export function scanTemplates(text: string): TemplateScan {
  const refs: TemplateRef[] = [];
  let rest = "";
  let last = 0;
  for (const m of text.matchAll(TEMPLATE_RE)) {
    const index = m.index;
    refs.push({ text: m[0], param: PARAM_EXPR_RE.exec(m[1] ?? "")?.[1], index });
    rest += text.slice(last, index) + " ".repeat(m[0].length);
    last = index + m[0].length;
  }
  rest += text.slice(last);
  const unterminated: number[] = [];
  for (let i = rest.indexOf("${{"); i >= 0; i = rest.indexOf("${{", i + 3)) unterminated.push(i);
  return { refs, unterminated };
}

export function hasTemplates(text: string): boolean {
  return text.includes("${{");
}

/** The param names a string references, in order of first use. */
export function paramsIn(text: string): string[] {
  const names = scanTemplates(text).refs.flatMap((r) => (r.param === undefined ? [] : [r.param]));
  return [...new Set(names)];
}

/** Replaces each template with `fill` (used to validate paths and URLs before params are known). */
export function blankTemplates(text: string, fill = "x"): string {
  return text.replace(TEMPLATE_RE, fill);
}

/**
 * Substitutes `${{ params.NAME }}` with `values[NAME]`. Throws `invalid_argument` for an
 * unknown param or unsupported expression (the parser reports these with positions first).
 */
export function substitute(text: string, values: ReadonlyMap<string, string>, where: string): string {
  if (!hasTemplates(text)) return text;
  const { unterminated } = scanTemplates(text);
  if (unterminated.length > 0)
    throw new StagefarmError("invalid_argument", `${where}: "\${{" without a closing "}}"`);
  return text.replace(TEMPLATE_RE, (whole: string, expr: string) => {
    const name = PARAM_EXPR_RE.exec(expr)?.[1];
    if (name === undefined)
      throw new StagefarmError(
        "invalid_argument",
        `${where}: unsupported expression "${whole}" (only \${{ params.NAME }} is supported)`,
      );
    const value = values.get(name);
    if (value === undefined)
      throw new StagefarmError("invalid_argument", `${where}: unknown param "${name}"`);
    return value;
  });
}

/** The param `text` is as a whole (`${{ params.NAME }}` and nothing else), else undefined. */
export function paramRefOf(text: string): string | undefined {
  const { refs, unterminated } = scanTemplates(text);
  const only = refs[0];
  if (refs.length !== 1 || unterminated.length > 0 || only === undefined) return undefined;
  return only.text === text.trim() ? only.param : undefined;
}
