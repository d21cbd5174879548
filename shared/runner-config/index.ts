/**
 * The checks that apply a runner kind's `with` schema and template contexts (their table:
 * ../runner-kinds.ts) to a pipeline: at parse time (issues at the offending YAML node,
 * file:line:col; values still holding `${{ params.X }}` are left for later) and after params
 * are applied (a value a param made invalid, named by stage and key path). The runners parse
 * `with` again when they run.
 */
import { createRequire } from "node:module";
import type { z } from "zod";
import { StagefarmError } from "../errors.js";
import { DATA, type TemplateContext } from "../pipeline/template-context.js";
import { hasTemplates } from "../pipeline/templates.js";
import { runnerTraits, type RUNNERS, type RunnerKind } from "../runner-kinds.js";
import { describePath } from "./stage-with.js";
import type { WithPath } from "./template-contexts.js";

/*
 * Each schema module (and zod under it, ~95 modules) is loaded when a stage of its runner is
 * first checked, so a pipeline without such stages (and `stagefarm validate` of it) never loads
 * zod: a synchronous require() of the ES module, which Node has since 20.19 (the module is then
 * shared with every `import` of it). Where Node cannot (older 20.x, or
 * --no-experimental-require-module), all three are imported up front instead.
 * Node refuses the require() while an import() of the same module is still loading: callers
 * await their dynamic imports (the agent's runners import these modules) before they check a
 * pipeline, as the CLI's actions do with Promise.all.
 */
const requireHere = createRequire(import.meta.url);
function load(path: string): unknown {
  try {
    return requireHere(path);
  } catch (err: unknown) {
    throw new StagefarmError("internal", `could not load the runner schema ${path}`, { cause: err });
  }
}
const eager =
  process.features.require_module === true
    ? undefined
    : {
        chroot: await import("./chroot.js"),
        emerge: await import("./emerge.js"),
        catalyst: await import("./catalyst.js"),
      };
/** The kinds whose table row says `withSchema`: the compiler wants a loader for each, and no other. */
type WithSchemaKind = {
  [K in RunnerKind]: (typeof RUNNERS)[K] extends { withSchema: true } ? K : never;
}[RunnerKind];
const SCHEMAS: Record<WithSchemaKind, () => z.ZodType> = {
  chroot: () => (eager?.chroot ?? (load("./chroot.js") as typeof import("./chroot.js"))).chrootWithSchema(),
  emerge: () => (eager?.emerge ?? (load("./emerge.js") as typeof import("./emerge.js"))).emergeWithSchema(),
  catalyst: () =>
    (eager?.catalyst ?? (load("./catalyst.js") as typeof import("./catalyst.js"))).catalystWithSchema(),
};
const hasSchema = (runner: RunnerKind): runner is WithSchemaKind => runnerTraits(runner).withSchema === true;

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
  if (!hasSchema(runner)) return [];
  const result = SCHEMAS[runner]().safeParse(data);
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
export { describePath } from "./stage-with.js";
