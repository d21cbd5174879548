/**
 * What a runner kind is, in one table. Everything that lists runner kinds derives from it: the
 * `RunnerKind` union, the parser's valid runners and per-runner rules (pipeline/parse-stage.ts),
 * which stages take limits (pipeline/limits.ts), the runner versions in every cache key
 * (cache-key/material.ts), the `with` schemas and template contexts (runner-config/), and the
 * agent's registry (agent/runners/registry.ts, a `Record<RunnerKind, …>` the compiler
 * completes).
 *
 * The `with` schemas are loaded on first use, never at import: loading the table (every
 * `stagefarm` command does) loads no zod.
 *
 * Adding a runner kind: a row here; its `with` schema and template contexts, if it takes a
 * `with`, in runner-config/; its implementation in agent/runners/<kind>/ and its line in
 * agent/runners/registry.ts (a compile error until it is there).
 */
import type { TemplateContext } from "./pipeline/index.js";
import {
  catalystContext,
  chrootContext,
  emergeContext,
  type WithPath,
} from "./runner-config/template-contexts.js";

export interface RunnerTraits {
  /**
   * Part of every cache key of the kind. Bump it when a change to the runner can change what a
   * stage produces; every key of that kind changes with it.
   */
  readonly version: string;
  /** A stage's `script`: required, refused, or accepted and not run (ignored). */
  readonly script: "required" | "refused" | "ignored";
  /** The stage's outputs are its pinned `sources` (fetch): `sources` required, `outputs` refused. */
  readonly sources: boolean;
  /** Tree outputs' mtimes are clamped to SOURCE_DATE_EPOCH unless the stage says `clamp_mtime`. */
  readonly clampMtime: boolean;
  /**
   * Whether `limits` apply: the runner's processes run in the stage's cgroup always, only in a
   * root (`with.root` given: emerge's chroot mode), or never (the agent does not confine them).
   */
  readonly limits: "always" | "with-root" | "never";
  /**
   * `with` is checked by the schema in runner-config/<kind>.ts, which runner-config/index.ts loads
   * (with zod) when a stage of the kind is first checked; absent: `with` is not checked.
   */
  readonly withSchema?: true;
  /** The template context of the `with` value at a key path; absent: every value is data. */
  readonly withContext?: (path: WithPath) => TemplateContext;
}

export const RUNNERS = {
  fetch: { version: "1", script: "refused", sources: true, clampMtime: true, limits: "never" },
  shell: { version: "1", script: "required", sources: false, clampMtime: true, limits: "always" },
  chroot: {
    version: "1",
    script: "required",
    sources: false,
    clampMtime: false,
    limits: "always",
    withSchema: true,
    withContext: chrootContext,
  },
  emerge: {
    // 2: jobs as emerge arguments (make.conf's EMERGE_DEFAULT_OPTS applies), the binhost stanza removed.
    version: "2",
    script: "ignored",
    sources: false,
    clampMtime: false,
    limits: "with-root",
    withSchema: true,
    withContext: emergeContext,
  },
  catalyst: {
    // 2: `%` written as `%%`, the seed placed by its content, git-archive snapshots packed by the runner.
    version: "2",
    script: "ignored",
    sources: false,
    clampMtime: false,
    limits: "never",
    withSchema: true,
    withContext: catalystContext,
  },
} as const satisfies Record<string, RunnerTraits>;

export type RunnerKind = keyof typeof RUNNERS;

/** The runner kinds, in the table's order. */
export const RUNNER_KINDS = Object.keys(RUNNERS) as readonly RunnerKind[];

/** The traits of a kind, as the common shape (optional fields readable on every kind). */
export function runnerTraits(kind: RunnerKind): RunnerTraits {
  return RUNNERS[kind];
}

/** Each kind's version (part of every cache key); tests key with other versions. */
export const RUNNER_VERSIONS = Object.fromEntries(
  RUNNER_KINDS.map((k) => [k, RUNNERS[k].version]),
) as Readonly<Record<RunnerKind, string>>;

/** Whether a string received from elsewhere (a pipeline file, a job) names a runner kind. */
export function isRunnerKind(s: string): s is RunnerKind {
  return Object.hasOwn(RUNNERS, s);
}
