/**
 * The parse-time half of "params never become code" (./template-context.ts): a template in a
 * stage's script or in a `with` field that becomes code is an error at the template's
 * file:line:col, saying how to pass the value as data; a template in a shell-syntax config
 * file must sit inside double quotes. (What a value may hold is checked when params are
 * applied, in ./resolve.ts.)
 */
import type { ParsedNode } from "yaml";
import { withTemplateContext } from "../runner-config/index.js";
import { shellQuoteAt } from "./shell-quoting.js";
import { codeRefusal, SCRIPT, type TemplateContext } from "./template-context.js";
import { blankTemplates, hasTemplates, scanTemplates, type TemplateRef } from "./templates.js";
import type { RunnerKind } from "./types.js";
import type { YamlReader } from "./yaml-reader.js";

type Path = Array<string | number>;

/** The scalar's text as written in the file and the offset it starts at (block scalars: the body). */
function rawOf(node: ParsedNode): { raw: string; base: number } | undefined {
  const tok = "srcToken" in node ? node.srcToken : undefined;
  if (tok === undefined || typeof tok !== "object" || !("source" in tok)) return undefined;
  if (tok.type === "block-scalar") {
    const last = tok.props.at(-1);
    const end = last !== undefined && "source" in last ? last.offset + last.source.length : tok.offset;
    return { raw: tok.source, base: end };
  }
  return { raw: tok.source, base: tok.offset };
}

/** File offsets of `refs` (in order) inside `node`; the node's start when the text is escaped. */
function refOffsets(node: ParsedNode, refs: readonly TemplateRef[]): number[] {
  const src = rawOf(node);
  let from = 0;
  return refs.map((ref) => {
    const found = src === undefined ? -1 : src.raw.indexOf(ref.text, from);
    if (src === undefined || found < 0) return node.range[0];
    from = found + ref.text.length;
    return src.base + found;
  });
}

/** Same-length stand-ins for the templates, so offsets stay put and the lexer sees plain text. */
function blanked(text: string): string {
  return text.replace(/\$\{\{.*?\}\}/gs, (m) => "x".repeat(m.length));
}

/** Issues of one string (`text`, parsed from `node`) of context `ctx`. */
function checkString(
  r: YamlReader,
  node: ParsedNode,
  text: string,
  ctx: TemplateContext,
  where: string,
): void {
  if (ctx.t !== "code" && ctx.t !== "shell-dq") return;
  const { refs } = scanTemplates(text);
  const offsets = refOffsets(node, refs);
  const plain = ctx.t === "shell-dq" ? blanked(text) : text;
  refs.forEach((ref, i) => {
    const at = offsets[i] ?? node.range[0];
    if (ctx.t === "code") r.error(at, `${where}: ${codeRefusal(ctx, ref.text, ref.param)}`);
    else if (shellQuoteAt(plain, ref.index) !== "double")
      r.error(
        at,
        `${where}: ${ref.text} in ${ctx.what} must sit inside double quotes (e.g. NAME="${ref.text}"): ` +
          "the file is read with shell syntax, where an unquoted value could become code",
      );
  });
}

function walkWith(
  r: YamlReader,
  runner: RunnerKind,
  value: unknown,
  path: Path,
  locate: (path: Path) => ParsedNode | undefined,
  where: string,
): void {
  if (typeof value === "string") {
    if (!hasTemplates(value) || blankTemplates(value) === value) return;
    const node = locate(path);
    const label = `${where} with${path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("")}`;
    if (node !== undefined) checkString(r, node, value, withTemplateContext(runner, path), label);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => walkWith(r, runner, v, [...path, i], locate, where));
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) walkWith(r, runner, v, [...path, k], locate, where);
  }
}

export interface StageTemplateSites {
  /** `stage "name"`. */
  where: string;
  runner: RunnerKind | undefined;
  /** The script's YAML node and text, when the stage has one. */
  script?: { node: ParsedNode; text: string };
  with: Record<string, unknown>;
  /** The YAML node of the `with` value at a key path. */
  locate: (path: Path) => ParsedNode | undefined;
}

/** Reports templates where they would become code (see the module comment). */
export function checkTemplateContexts(r: YamlReader, s: StageTemplateSites): void {
  if (s.script !== undefined && hasTemplates(s.script.text))
    checkString(r, s.script.node, s.script.text, SCRIPT, `${s.where} script`);
  if (s.runner !== undefined) walkWith(r, s.runner, s.with, [], s.locate, s.where);
}
