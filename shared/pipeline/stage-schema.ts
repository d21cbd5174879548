/**
 * A resolved stage as it travels in a job message (shared/protocol/messages.ts, `stage`): the
 * agent checks it with this schema like every other field of the job, before anything of it
 * reaches a runner. The values are held to the rules the parser and the resolver hold a
 * pipeline to (./rules.ts: names, workspace paths, env names, URLs, sha256s, labels, limits), so
 * a stage the coordinator could not have produced is refused, whatever sent it. Unknown keys are
 * dropped. The runners check `with` themselves (shared/runner-config/).
 *
 * Built on first use (shared/util/lazy.ts): importing this module builds no schema.
 */
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import { RUNNER_KINDS } from "../runner-kinds.js";
import { describePath } from "../runner-config/index.js";
import { lazy } from "../util/lazy.js";
import { MAX_CPU, MIN_CPU, MIN_MEMORY_BYTES } from "./limits.js";
import {
  envNameProblem,
  labelProblem,
  nameProblem,
  pathProblem,
  platformProblem,
  reservedKeyProblem,
  sha256Problem,
  urlProblem,
} from "./rules.js";
import type { ResolvedStage } from "./types.js";

/** Longest free-text string of a stage (a script, a description, a pipeline name). */
const MAX_TEXT_CHARS = 1 << 20;

const schema = lazy(() => {
  /** A string `problem` has nothing to say about. */
  const checked = (problem: (s: string) => string | undefined) =>
    z.string().superRefine((s, ctx) => {
      const p = problem(s);
      if (p !== undefined) ctx.addIssue({ code: "custom", message: p });
    });
  const text = z.string().max(MAX_TEXT_CHARS);
  const name = checked(nameProblem);
  const path = checked(pathProblem);
  const digest = checked(sha256Problem);
  const count = z.number().int().nonnegative();
  const pos = z.object({ file: text, line: count, col: count });
  const source = z.object({ url: checked(urlProblem), sha256: digest });
  const env = z.record(text, text).superRefine((rec, ctx) => {
    for (const key of Object.keys(rec)) {
      const p = envNameProblem(key) ?? reservedKeyProblem(key);
      if (p !== undefined) ctx.addIssue({ code: "custom", path: [key], message: p });
    }
  });
  const input = z.discriminatedUnion("t", [
    z.object({ t: z.literal("stage"), name, stage: name, output: name, path, unpack: z.boolean(), pos }),
    z.object({ t: z.literal("source"), name, source, path, unpack: z.boolean(), pos }),
    z.object({
      t: z.literal("artifact"),
      name,
      digest,
      release: text.optional(),
      path,
      unpack: z.boolean(),
      pos,
    }),
  ]);
  const output = z.object({
    name,
    path,
    kind: z.enum(["tree", "file"]).optional(),
    exclude: z.array(text.refine((s) => !s.includes("\0"), "must not contain a NUL byte")),
    pos,
  });
  const retryCondition = z.discriminatedUnion("t", [
    z.object({ t: z.literal("infra") }),
    z.object({ t: z.literal("timeout") }),
    z.object({ t: z.literal("exit"), code: z.number().int().min(1).max(255).optional() }),
  ]);
  return z.object({
    pipeline: text.min(1),
    name,
    runner: z.enum(RUNNER_KINDS),
    requires: z.array(checked(labelProblem)),
    inputs: z.array(input),
    outputs: z.array(output),
    env,
    script: text.optional(),
    sources: z.array(z.object({ name, source })),
    with: z.record(z.string(), z.unknown()),
    timeoutMs: z.number().int().positive(),
    retries: count,
    retryOn: z.array(retryCondition).optional(),
    clampMtime: z.boolean(),
    platform: checked(platformProblem),
    paramsUsed: z.array(text),
    paramsMissing: z.array(text).optional(),
    description: text.optional(),
    estimateMs: z.number().nonnegative().optional(),
    limits: z
      .object({
        memoryBytes: z.number().int().min(MIN_MEMORY_BYTES).optional(),
        cpu: z.number().min(MIN_CPU).max(MAX_CPU).optional(),
      })
      .optional(),
  });
});

/**
 * The stage of a job, checked: `invalid_argument` listing every problem by key path
 * (`stage.inputs[0].path: …`) when it is not a stage the coordinator could have sent.
 */
export function parseJobStage(raw: unknown): ResolvedStage {
  const r = schema().safeParse(raw);
  if (r.success) {
    // Compile-time: the schema names every field of ResolvedStage (one added there and not
    // here would otherwise be dropped from every job without a word).
    const stage: ResolvedStage & Record<Exclude<keyof ResolvedStage, keyof typeof r.data>, never> = r.data;
    return stage;
  }
  const problems = r.error.issues.map((i) => `stage${describePath(i.path)}: ${i.message}`);
  throw new StagefarmError("invalid_argument", `the job's stage is malformed: ${problems.join("; ")}`, {
    details: { issues: problems },
  });
}
