/**
 * The `with` block of a `catalyst` stage (YAML keys, snake_case), validated once when the stage
 * is run (and by anything that wants to check a pipeline early):
 *
 *   with:
 *     spec: releases/specs/amd64/stage1-systemd-23.spec   # template inside the releng checkout
 *     releng: releng                  # workspace path of the releng checkout (default "releng")
 *     releng_edits:                   # applied in order before rendering (shared/catalyst/releng-edits.ts)
 *       - file: releases/portage/stages/package.mask/releng/rust
 *         replace: [{ from: "dev-lang/rust\n", to: "dev-lang/rust-bin\n" }]
 *       - file: releases/portage/stages/profile/packages.build
 *         content: "dev-lang/rust\n"
 *     seed: seed/stage3-bootstrap.tar.xz   # workspace path of the seed tarball (if the spec needs one)
 *     snapshot: snapshot/gentoo.tar.gz     # workspace path of the repo snapshot: a squashfs, or a
 *                                     # `git archive` tarball of the repo at treeish (packed as
 *                                     # `catalyst --snapshot` does; agent/runners/catalyst/snapshot.ts)
 *     treeish: d55448fdd9e8e82386e9b121e4b637b03e59a0f8   # @TREEISH@, names the snapshot
 *     timestamp: 20250101T000000Z     # @TIMESTAMP@ (default, for a git archive: its commit's
 *                                     # date, as catalyst-auto makes it)
 *     datestamp: "20250101"           # @DATESTAMP@ (default: TIMESTAMP's date part)
 *     overrides:                      # spec keys replaced or added after rendering
 *       source_subpath: default/stage3-bootstrap
 *     catalyst_conf:                  # catalyst.conf data (TOML), over the runner's defaults
 *       options: [pkgcache]
 *       jobs: 8
 *     catalyst_version: 4.1.0         # `catalyst --version` must report it (optional)
 *
 * Everything here is part of the cache key (through `with`), so any change to what the rendered
 * spec or catalyst.conf would hold changes the key; the releng checkout, seed and snapshot enter
 * it as input digests.
 */
import { z } from "zod";
import type { TomlDataValue } from "../catalyst/index.js";
import { confValueProblem } from "../catalyst/index.js";
import { overrideKeyProblem } from "../catalyst/index.js";
import { overrideValueProblem, SPEC_KEY_RE } from "../catalyst/index.js";
import { MAX_NAME_CHARS, MAX_SUBPATH_CHARS, nameProblem, specPathValueProblem } from "../catalyst/index.js";
import { EDIT_OPERATIONS } from "../catalyst/index.js";
import { datestampFromTimestamp } from "../catalyst/index.js";
import { StagefarmError } from "../errors.js";
import { lazy } from "../util/lazy.js";
import { describePath, type StageWith } from "./stage-with.js";

/** `..` as a whole path component. */
const DOTDOT = /(^|\/)\.\.(\/|$)/;

const relativePath = (inside: string) =>
  z
    .string()
    .min(1, "must not be empty")
    .refine((p) => !p.startsWith("/"), `must be relative to ${inside}, not absolute`)
    .refine((p) => !DOTDOT.test(p), `must stay inside ${inside} (no ".." components)`)
    .max(MAX_SUBPATH_CHARS, `must be at most ${MAX_SUBPATH_CHARS} characters`)
    .refine((p) => !p.includes("\0"), "must not contain a NUL byte")
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    .refine((p) => !/[\u0001-\u001f\u007f]/.test(p), "must not contain control characters");

/** `repo_name` names the snapshot file (snapshots/<repo_name>-<treeish>.sqfs): one name. */
function repoNameProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "repo_name must be a string";
  const problem = nameProblem(value);
  return problem === undefined ? undefined : `repo_name becomes part of the snapshot's file name: ${problem}`;
}

/** The schema of a catalyst stage's `with`, built on first use (shared/runner-kinds.ts). */
export const catalystWithSchema = lazy(() => {
  const workspacePath = relativePath("the workspace");
  const relengPath = relativePath("the releng checkout");

  /** One word usable in a file name: a tree-ish, a timestamp, a datestamp. */
  const stamp = (what: string) =>
    z
      .string()
      .max(MAX_NAME_CHARS, `${what} must be at most ${MAX_NAME_CHARS} characters`)
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
        `${what} must be one word of letters, digits, ".", "_", "+", "-"`,
      );

  const tomlValue: z.ZodType<TomlDataValue> = z.lazy(() =>
    z.union([
      z.string(),
      z.number().refine(Number.isFinite, "must be a finite number"),
      z.boolean(),
      z.array(tomlValue),
      z.record(z.string(), tomlValue),
    ]),
  );

  const editSchema = z
    .object({
      file: relengPath,
      replace: z
        .array(z.object({ from: z.string().min(1, "must not be empty"), to: z.string() }).strict())
        .min(1, "needs at least one {from, to}")
        .optional(),
      replace_line: z
        .array(z.object({ match: z.string().min(1, "must not be empty"), with: z.string() }).strict())
        .min(1, "needs at least one {match, with}")
        .optional(),
      append: z.string().min(1, "must not be empty").optional(),
      ensure_line: z
        .object({
          line: z
            .string()
            .min(1, "must not be empty")
            .refine((l) => !/[\n\r]/.test(l), "must be one line"),
          replacing: z.string().min(1, "must not be empty").optional(),
          after: z.string().min(1, "must not be empty").optional(),
        })
        .strict()
        .optional(),
      content: z.string().optional(),
      remove: z.literal(true).optional(),
    })
    .strict()
    .superRefine((edit, ctx) => {
      const ops = EDIT_OPERATIONS.filter((op) => edit[op] !== undefined);
      if (ops.length !== 1)
        ctx.addIssue({
          code: "custom",
          message: `needs exactly one of ${EDIT_OPERATIONS.join(", ")} (got ${ops.length === 0 ? "none" : ops.join(", ")})`,
        });
      for (const key of ["replacing", "after"] as const) {
        const source = edit.ensure_line?.[key];
        if (source === undefined) continue;
        try {
          new RegExp(source);
        } catch (err: unknown) {
          ctx.addIssue({
            code: "custom",
            path: ["ensure_line", key],
            message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }
      for (const [i, r] of (edit.replace_line ?? []).entries()) {
        try {
          new RegExp(r.match);
        } catch (err: unknown) {
          ctx.addIssue({
            code: "custom",
            path: ["replace_line", i, "match"],
            message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }
    });

  const overrideValue = z.union([z.string(), z.array(z.string())]).superRefine((v, ctx) => {
    const problem = overrideValueProblem(v);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });

  /** Overrides of spec keys that become paths (source_subpath, version_stamp, …) are checked as such. */
  const overrides = z
    .record(z.string().regex(SPEC_KEY_RE, "is not a spec key"), overrideValue)
    .superRefine((rec, ctx) => {
      for (const [key, value] of Object.entries(rec)) {
        const keyProblem = overrideKeyProblem(key);
        if (keyProblem !== undefined) ctx.addIssue({ code: "custom", path: [key], message: keyProblem });
        const problem = specPathValueProblem(key, value);
        if (problem !== undefined) ctx.addIssue({ code: "custom", path: [key], message: problem });
      }
    });

  const withSchema = z
    .object({
      spec: relengPath,
      releng: workspacePath.default("releng"),
      releng_edits: z.array(editSchema).default([]),
      seed: workspacePath.optional(),
      snapshot: workspacePath,
      treeish: stamp("treeish"),
      timestamp: stamp("timestamp").optional(),
      datestamp: stamp("datestamp").optional(),
      overrides: overrides.default({}),
      catalyst_conf: z
        .record(z.string(), tomlValue)
        .superRefine((conf, ctx) => {
          for (const [key, value] of Object.entries(conf)) {
            const problem = confValueProblem(key, value);
            if (problem !== undefined) ctx.addIssue({ code: "custom", path: [key], message: problem });
          }
          if (Object.hasOwn(conf, "repo_name")) {
            const problem = repoNameProblem(conf["repo_name"]);
            if (problem !== undefined)
              ctx.addIssue({ code: "custom", path: ["repo_name"], message: problem });
          }
        })
        .default({}),
      catalyst_version: z.string().min(1, "must not be empty").optional(),
    })
    .strict();
  return withSchema;
});

export type CatalystWith = z.infer<ReturnType<typeof catalystWithSchema>>;

function invalid(stage: StageWith, problems: string[]): StagefarmError {
  return new StagefarmError(
    "invalid_pipeline",
    `stage "${stage.name}" (runner catalyst): ${problems.join("; ")}`,
    {
      details: { stage: stage.name, issues: problems },
    },
  );
}

/** The stage's `with` block, defaults applied; `invalid_pipeline` naming the stage and key path. */
export function parseCatalystWith(stage: StageWith): CatalystWith {
  const parsed = catalystWithSchema().safeParse(stage.with);
  if (!parsed.success)
    throw invalid(
      stage,
      parsed.error.issues.map((i) => `with${describePath(i.path)}: ${i.message}`),
    );
  const w = parsed.data;
  if (
    w.datestamp === undefined &&
    w.timestamp !== undefined &&
    datestampFromTimestamp(w.timestamp) === undefined
  )
    throw invalid(stage, [
      `with.datestamp: cannot be derived from timestamp "${w.timestamp}" (it does not start with a date); set datestamp`,
    ]);
  return w;
}

/** @DATESTAMP@ for a parsed `with`: its own, else the date part of the TIMESTAMP used. */
export function datestampOf(w: CatalystWith, timestamp: string): string {
  return w.datestamp ?? datestampFromTimestamp(timestamp) ?? timestamp;
}
