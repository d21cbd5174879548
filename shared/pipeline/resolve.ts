/**
 * resolvePipeline: applies param values to a parsed pipeline and returns one ResolvedStage per
 * stage (file order) — what the cache key and the runners see. Pipeline env is merged under each
 * stage's env. Values that only become known now (paths, URLs, sha256 pins holding templates)
 * are validated again after substitution, and every param value is checked for where it lands
 * (./template-context.ts: none in code, one line in line-based files, no quote-breaking
 * characters in shell-syntax files, no NUL anywhere).
 */
import { StagefarmError } from "../errors.js";
import { excerpt, quoted } from "../util/excerpt.js";
import { MAX_REPORTED_ISSUES } from "./pipeline-error.js";
import { withIssues, withTemplateContext } from "../runner-config/index.js";
import { missingParams, paramValues, type ParamValueOptions } from "./params.js";
import { labelProblem, pathProblem, sha256Problem, urlProblem } from "./rules.js";
import {
  codeRefusal,
  DATA,
  envContext,
  SCRIPT,
  templateValueProblem,
  type TemplateContext,
} from "./template-context.js";
import { paramsIn, substitute } from "./templates.js";
import type { InputSpec, OutputSpec, PinnedSource, PipelineSpec, ResolvedStage, StageSpec } from "./types.js";

type Check = (value: string) => string | undefined;

class Substituter {
  readonly used = new Set<string>();
  /** Required params without a value that this stage references (plan only). */
  readonly missing = new Set<string>();

  constructor(
    private readonly values: ReadonlyMap<string, string>,
    private readonly where: string,
    private readonly unset: ReadonlySet<string>,
  ) {}

  /**
   * Substitutes params in `text`; `check` validates the result (e.g. a path rule), `ctx` what
   * each param's value may hold where it lands (./template-context.ts).
   */
  text(text: string, field: string, check?: Check, ctx: TemplateContext = DATA): string {
    const where = `${this.where} ${field}`;
    const refs = paramsIn(text);
    for (const p of refs) this.used.add(p);
    for (const p of refs) {
      const value = this.values.get(p);
      const problem =
        ctx.t === "code"
          ? codeRefusal(ctx, `\${{ params.${p} }}`, p)
          : value === undefined
            ? undefined
            : templateValueProblem(ctx, value);
      if (problem !== undefined)
        throw new StagefarmError(
          "invalid_argument",
          ctx.t === "code"
            ? `${where}: ${problem}`
            : `${where}: param "${p}" cannot be used here: ${problem}`,
          { details: { param: p, field } },
        );
    }
    const unset = refs.filter((p) => this.unset.has(p));
    if (unset.length > 0) {
      // Left as written: the stage cannot be keyed or run until these are given.
      for (const p of unset) this.missing.add(p);
      return text;
    }
    const out = substitute(text, this.values, where);
    const problem = check?.(out);
    if (problem !== undefined) {
      const via = out === text ? "" : ` (after substituting params into ${quoted(text)})`;
      throw new StagefarmError("invalid_argument", `${where}: ${problem}${via}`);
    }
    return out;
  }

  pin(source: PinnedSource, field: string): PinnedSource {
    return {
      url: this.text(source.url, `${field} url`, urlProblem),
      sha256: this.text(source.sha256, `${field} sha256`, sha256Problem),
    };
  }

  /** Strings inside runner-specific data, each checked for its context; keys are left alone. */
  data(
    value: unknown,
    field: string,
    context: (path: Array<string | number>) => TemplateContext,
    path: Array<string | number> = [],
  ): unknown {
    if (typeof value === "string") return this.text(value, field, undefined, context(path));
    if (Array.isArray(value))
      return value.map((v, i) => this.data(v, `${field}[${i}]`, context, [...path, i]));
    if (value !== null && typeof value === "object")
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, this.data(v, `${field}.${k}`, context, [...path, k])]),
      );
    return value;
  }
}

function resolveInput(sub: Substituter, input: InputSpec): InputSpec {
  const field = `input "${input.name}"`;
  const path = sub.text(input.path, `${field} path`, pathProblem);
  switch (input.t) {
    case "stage":
      return { ...input, path };
    case "source":
      return { ...input, path, source: sub.pin(input.source, field) };
    case "artifact":
      // A release input is bound to its digest at submit (shared/release/seeds.ts); until then it has none.
      if (input.release !== undefined && input.digest === "") return { ...input, path };
      return { ...input, path, digest: sub.text(input.digest, `${field} artifact`, artifactProblem) };
  }
}

function artifactProblem(value: string): string | undefined {
  const problem = sha256Problem(value);
  return problem === undefined
    ? undefined
    : `${problem}; give the digest \`stagefarm import FILE\` printed, or an output digest of another run`;
}

function resolveOutput(sub: Substituter, output: OutputSpec): OutputSpec {
  const field = `output "${output.name}"`;
  return {
    ...output,
    path: sub.text(output.path, `${field} path`, pathProblem),
    exclude: output.exclude.map((x, i) => sub.text(x, `${field} exclude[${i}]`)),
  };
}

function resolveStage(
  spec: PipelineSpec,
  stage: StageSpec,
  values: ReadonlyMap<string, string>,
  unset: ReadonlySet<string>,
): ResolvedStage {
  const sub = new Substituter(values, `${spec.file}: stage "${stage.name}"`, unset);
  // Built with fromEntries (define, not assign): no key can fall into Object.prototype's setter.
  const env: Record<string, string> = Object.fromEntries(
    Object.entries({ ...spec.env, ...stage.env }).map(([k, v]) => [
      k,
      sub.text(v, `env "${k}"`, undefined, envContext(k)),
    ]),
  );
  const resolved: ResolvedStage = {
    pipeline: spec.name,
    name: stage.name,
    runner: stage.runner,
    requires: stage.requires.map((l, i) => sub.text(l, `requires[${i}]`, labelProblem)),
    inputs: stage.inputs.map((i) => resolveInput(sub, i)),
    outputs: stage.outputs.map((o) => resolveOutput(sub, o)),
    env,
    ...(stage.script === undefined ? {} : { script: sub.text(stage.script, "script", undefined, SCRIPT) }),
    sources: stage.sources.map((s) => ({ name: s.name, source: sub.pin(s.source, `source "${s.name}"`) })),
    with: sub.data(stage.with, "with", (path) => withTemplateContext(stage.runner, path)) as Record<
      string,
      unknown
    >,
    timeoutMs: stage.timeoutMs,
    retries: stage.retries,
    ...(stage.retryOn === undefined ? {} : { retryOn: stage.retryOn }),
    clampMtime: stage.clampMtime,
    platform: spec.platform,
    paramsUsed: [],
    ...(stage.description === undefined
      ? {}
      : {
          description: paramsIn(stage.description).some((p) => unset.has(p))
            ? stage.description
            : substitute(stage.description, values, `${spec.file}: stage "${stage.name}" description`),
        }),
    ...(stage.estimateMs === undefined ? {} : { estimateMs: stage.estimateMs }),
    ...(stage.limits === undefined ? {} : { limits: { ...stage.limits } }),
  };
  resolved.paramsUsed = [...sub.used].sort();
  if (sub.missing.size > 0) resolved.paramsMissing = [...sub.missing].sort();
  else {
    // Parse time skipped values holding params; now that they are applied, check them too.
    const issues = withIssues(stage.runner, resolved.with, { allowTemplates: false });
    if (issues.length > 0) {
      // Bounded and escaped like a PipelineError's list: param values are not to be trusted.
      const shown = issues.slice(0, MAX_REPORTED_ISSUES).map((i) => excerpt(i.message, 400));
      const more = issues.length - shown.length;
      throw new StagefarmError(
        "invalid_argument",
        `${excerpt(spec.file, 200)}: stage "${stage.name}" (runner ${stage.runner}) after params were applied: ${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}`,
        { details: { stage: stage.name, issues: shown } },
      );
    }
  }
  return resolved;
}

/**
 * Resolves every stage with `overrides` applied over param defaults. Throws `invalid_argument`
 * for an override of an unknown param (listing the known ones), a required param without a
 * value (unless `allowMissing`: then the stages using it carry `paramsMissing`), or a value
 * that makes a path, URL or sha256 invalid.
 */
export function resolvePipeline(
  spec: PipelineSpec,
  overrides: Readonly<Record<string, string>>,
  opts: ParamValueOptions = {},
): ResolvedStage[] {
  const values = paramValues(spec, overrides, opts);
  const unset = new Set(missingParams(spec, overrides));
  return spec.stages.map((s) => resolveStage(spec, s, values, unset));
}
