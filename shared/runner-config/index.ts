/**
 * The `with` schemas of the runners that take one, by runner kind, and the check that applies
 * them to a pipeline: at parse time (issues at the offending YAML node, file:line:col; values
 * still holding `${{ params.X }}` are left for later) and after params are applied (a value a
 * param made invalid, named by stage and key path). The runners parse `with` again when they run.
 */
import type { z } from "zod";
import { hasTemplates } from "../pipeline/templates.js";
import type { RunnerKind } from "../pipeline/index.js";
import { catalystWithSchema } from "./catalyst.js";
import { chrootWithSchema } from "./chroot.js";
import { emergeWithSchema } from "./emerge.js";

const SCHEMAS: Partial<Record<RunnerKind, z.ZodType>> = {
  chroot: chrootWithSchema,
  emerge: emergeWithSchema,
  catalyst: catalystWithSchema,
};

export interface WithIssue {
  /** Key path inside `with`, e.g. ["releng_edits", 0, "file"]. */
  path: Array<string | number>;
  /** "with.releng_edits[0].file: …" */
  message: string;
}

function describePath(path: readonly PropertyKey[]): string {
  return path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
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
  const schema = SCHEMAS[runner];
  if (schema === undefined) return [];
  const result = schema.safeParse(data);
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

/** Whether a runner kind validates its `with` block. */
export function hasWithSchema(runner: RunnerKind): boolean {
  return SCHEMAS[runner] !== undefined;
}
export { type CatalystWith, datestampOf, parseCatalystWith } from "./catalyst.js";
export { type ChrootWith, parseChrootWith } from "./chroot.js";
export { type EmergeWith, parseEmergeWith, PATH_ENV, portageConfigEntries } from "./emerge.js";
export { withTemplateContext } from "./template-contexts.js";
