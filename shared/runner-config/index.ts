/**
 * The checks that apply a runner kind's `with` schema and template contexts (their table:
 * ../runner-kinds.ts) to a pipeline: at parse time (issues at the offending YAML node,
 * file:line:col; values still holding `${{ params.X }}` are left for later) and after params
 * are applied (a value a param made invalid, named by stage and key path). The runners parse
 * `with` again when they run.
 */
import { DATA, type TemplateContext } from "../pipeline/template-context.js";
import { hasTemplates } from "../pipeline/templates.js";
import { runnerTraits, type RunnerKind } from "../runner-kinds.js";
import { describePath } from "./stage-with.js";
import type { WithPath } from "./template-contexts.js";

export interface WithIssue {
  /** Key path inside `with`, e.g. ["releng_edits", 0, "file"]. */
  path: Array<string | number>;
  /** "with.releng_edits[0].file: …" */
  message: string;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function mentionsTemplate(v: unknown): boolean {
  if (typeof v === "string") return hasTemplates(v);
  if (Array.isArray(v)) return v.some(mentionsTemplate);
  if (v !== null && typeof v === "object") return Object.values(v).some(mentionsTemplate);
  return false;
}

/**
 * Problems of `data` as the `with` of a `runner` stage. With `allowTemplates`, a problem whose
 * value (or the object holding it) still contains a param template is not reported.
 */
export function withIssues(
  runner: RunnerKind,
  data: unknown,
  opts: { allowTemplates: boolean },
): WithIssue[] {
  const schema = runnerTraits(runner).withSchema;
  if (schema === undefined) return [];
  const result = schema().safeParse(data);
  if (result.success) return [];
  const out: WithIssue[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.filter((k): k is string | number => typeof k !== "symbol");
    const value = valueAt(data, path);
    if (opts.allowTemplates && mentionsTemplate(value)) continue;
    const text =
      issue.code === "invalid_type" && value === undefined
        ? `missing required key "${String(path.at(-1) ?? "")}" (${issue.expected === "array" ? "a list" : `a ${issue.expected}`})`
        : issue.message;
    out.push({
      path,
      message: `with${describePath(value === undefined ? path.slice(0, -1) : path)}: ${text}`,
    });
  }
  return out;
}

/** The template context of the `with` value at `path` of a `runner` stage. */
export function withTemplateContext(runner: RunnerKind, path: WithPath): TemplateContext {
  return runnerTraits(runner).withContext?.(path) ?? DATA;
}
