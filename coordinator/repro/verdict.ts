/**
 * The reproducibility verdict of one stage of a run (`--repro`), as the run document keeps it
 * (`repro.verdicts.<stage>`, ../service/run-doc.ts) and every transport shows it.
 *
 * Glossary
 * - **first build**: the stage's build the run used (executed in this run, or its cache entry);
 *   its outputs are the cache entry and feed the stages downstream.
 * - **second build**: the stage built again without the cache, on another agent (distributed)
 *   or in another workspace (embedded). Its outputs are compared, never cached.
 * - **verdict**: `reproducible` (every output the same), `differs` (the diff summary per output,
 *   grouped by owning package, shared/diff), or `error` (no verdict: the second build failed or
 *   the outputs could not be compared; an error never fails the run).
 *
 *   building ──(second build and diff)──► reproducible | differs | error
 *
 * The summary is bounded (packages and paths per package) so a run document stays small; the
 * whole report is one `stagefarm diff` of the two digests away.
 */
import { z } from "zod";
import { type DiffReport, type PackageGroup, type PathChange, summaryLine } from "../../shared/diff/index.js";
import { excerpt } from "../../shared/util/excerpt.js";

/**
 * Packages kept in one verdict, over all its outputs (the rest counted in `morePackages`), and
 * paths kept per package: a verdict stays within about 40 KiB, so a run document with several
 * stays far below a NATS message.
 */
export const MAX_VERDICT_PACKAGES = 30;
export const MAX_VERDICT_PATHS = 5;
const MAX_PATH_CHARS = 200;
/* Strings are bounded where they are made (`excerpt`), not by the schema: a document that parsed
 * when written must parse when read, whatever a hostile tree's names escape to. */
const MAX_SUMMARY_CHARS = 1000;

export const REPRO_STATES = ["building", "reproducible", "differs", "error"] as const;

/** One build of the stage: its attempt in this run (absent: a cache entry) and its agent. */
export const reproBuildSchema = z.object({
  attempt: z.number().int().nonnegative().optional(),
  agent: z.string().optional(),
  cached: z.boolean().optional(),
  logPath: z.string().optional(),
});
export type ReproBuild = z.infer<typeof reproBuildSchema>;

/** One package's share of an output's differences (`key` absent: paths no package owns). */
export const reproPackageSchema = z.object({
  key: z.string().optional(),
  cpvA: z.string().optional(),
  cpvB: z.string().optional(),
  /** How the two sides' vdb entries differ ("USE", "version", …). */
  vdb: z.array(z.string()).max(8),
  onlyA: z.number().int().nonnegative(),
  onlyB: z.number().int().nonnegative(),
  differing: z.number().int().nonnegative(),
  /** What differs (attribute names, with the noise label when a rule explains it). */
  what: z.array(z.string()).max(16),
  /** The first paths, "+ path" (only in B), "- path" (only in A), "~ path" (differs). */
  paths: z.array(z.string()).max(MAX_VERDICT_PATHS),
});
export type ReproPackage = z.infer<typeof reproPackageSchema>;

export const reproOutputSchema = z.object({
  name: z.string(),
  a: z.string(),
  b: z.string(),
  identical: z.boolean(),
  summary: z.string(),
  packages: z.array(reproPackageSchema).max(MAX_VERDICT_PACKAGES + 1),
  morePackages: z.number().int().nonnegative().optional(),
});
export type ReproOutput = z.infer<typeof reproOutputSchema>;

export const reproDocSchema = z.object({
  state: z.enum(REPRO_STATES),
  first: reproBuildSchema,
  second: reproBuildSchema.optional(),
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  /** `error`: why there is no verdict. */
  error: z.string().optional(),
  outputs: z.array(reproOutputSchema).optional(),
});
export type ReproDoc = z.infer<typeof reproDocSchema>;

/** Most stages one run may check (a pipeline's stages are one YAML mapping: far fewer). */
export const MAX_REPRO_STAGES = 10_000;

/** The run's `--repro` request and what came of it. */
export const runReproSchema = z.object({
  stages: z.array(z.string()).max(MAX_REPRO_STAGES),
  strict: z.boolean(),
  verdicts: z.record(z.string(), reproDocSchema),
  /** With `strict`: why the run failed (a stage that is not reproducible). */
  failure: z.string().optional(),
});
export type RunRepro = z.infer<typeof runReproSchema>;

/** An output of the two builds compared: equal digests, or the tree diff of the two. */
export type OutputComparison =
  | { name: string; a: string; b: string; t: "same" }
  | { name: string; a: string; b: string; t: "diff"; report: DiffReport }
  /** Two files that are not archives: their bytes differ. */
  | { name: string; a: string; b: string; t: "bytes" };

/** The verdict of a set of compared outputs. */
export function verdictOf(comparisons: readonly OutputComparison[]): Pick<ReproDoc, "state" | "outputs"> {
  let budget = MAX_VERDICT_PACKAGES;
  const outputs = comparisons.map((c) => {
    const o = outputVerdict(c, budget);
    budget -= o.packages.length;
    return o;
  });
  return { state: outputs.every((o) => o.identical) ? "reproducible" : "differs", outputs };
}

/** One output's verdict, with at most `budget` packages. */
function outputVerdict(c: OutputComparison, budget: number): ReproOutput {
  const base = { name: c.name, a: c.a, b: c.b };
  if (c.t === "same") return { ...base, identical: true, summary: "identical", packages: [] };
  if (c.t === "bytes")
    return {
      ...base,
      identical: false,
      summary: "the files differ (not archives: compared byte for byte)",
      packages: [],
    };
  const r = c.report;
  const groups = [...r.packages, ...(r.unowned.changes.length > 0 ? [r.unowned] : [])];
  const packages = groups.slice(0, Math.max(0, budget)).map(packageVerdict);
  const more = groups.length - packages.length;
  return {
    ...base,
    identical: r.identical,
    summary: excerpt(
      r.identical ? "identical contents (the archives differ only in their bytes)" : summaryLine(r),
      MAX_SUMMARY_CHARS,
    ),
    packages,
    ...(more > 0 ? { morePackages: more } : {}),
  };
}

function packageVerdict(g: PackageGroup): ReproPackage {
  const count = (t: PathChange["t"]): number => g.changes.filter((c) => c.t === t).length;
  const what = new Set<string>();
  for (const c of g.changes)
    if (c.t === "differs")
      for (const d of c.diffs) what.add(d.noise === undefined ? d.attr : `${d.attr} (${d.noise})`);
  return {
    ...(g.key === undefined ? {} : { key: excerpt(g.key, 256) }),
    ...(g.cpvA === undefined ? {} : { cpvA: excerpt(g.cpvA, 256) }),
    ...(g.cpvB === undefined ? {} : { cpvB: excerpt(g.cpvB, 256) }),
    vdb: [...new Set(g.vdb.map((v) => v.field))].slice(0, 8),
    onlyA: count("only-a"),
    onlyB: count("only-b"),
    differing: count("differs"),
    what: [...what].slice(0, 16),
    paths: g.changes
      .slice(0, MAX_VERDICT_PATHS)
      .map(
        (c) => `${c.t === "only-a" ? "-" : c.t === "only-b" ? "+" : "~"} ${excerpt(c.path, MAX_PATH_CHARS)}`,
      ),
  };
}

/** "dev-lang/python-3.12.8, (no package)": the first differing packages of a verdict. */
export function differingPackages(doc: ReproDoc, max = 3): string {
  const names = (doc.outputs ?? [])
    .filter((o) => !o.identical)
    .flatMap((o) =>
      o.packages.length === 0
        ? [`output ${o.name}`]
        : o.packages.map((p) => p.cpvB ?? p.cpvA ?? p.key ?? "paths owned by no package"),
    );
  const shown = [...new Set(names)];
  return shown.length <= max
    ? shown.join(", ")
    : `${shown.slice(0, max).join(", ")} and ${shown.length - max} more`;
}
