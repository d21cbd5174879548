/**
 * The `with` block of a `chroot` stage (YAML keys, snake_case), validated once when the stage is
 * run (and by anything that wants to check a pipeline early):
 *
 *   with:
 *     root: rootfs              # workspace-relative directory holding the root (default "rootfs")
 *     login: true               # run the script in a login shell (bash -l: profile sourced)
 *     dev: minimal              # a tmpfs /dev with the usual nodes, or "devtmpfs" (the host's,
 *                               # as the procedure mounts it: writes to /dev reach the host's)
 *     resolv_conf: host         # "host" | "none" | { content: "nameserver 1.1.1.1\n" }
 *     binds:                    # workspace paths mounted into the root for the run only
 *       - { from: distfiles, to: /var/cache/distfiles, readonly: true }
 *     shell: /bin/bash          # the shell inside the root (bash-compatible)
 *
 * resolv.conf and binds are mounted for the run only; the output root never holds them.
 */
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { ResolvedStage } from "../pipeline/index.js";

/** `..` as a whole path component. */
const DOTDOT = /(^|\/)\.\.(\/|$)/;

/** A string key: "is required" when absent, rather than zod's "expected string, received undefined". */
const str = () =>
  z.string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") });

const workspacePath = str()
  .min(1, "must not be empty")
  .refine((p) => !p.startsWith("/"), "must be relative to the workspace, not absolute")
  .refine((p) => !DOTDOT.test(p), 'must stay inside the workspace (no ".." components)')
  .refine((p) => !p.includes("\0"), "must not contain a NUL byte");

/** Paths inside the root that runner-made file systems occupy: binds cannot go there. */
const PSEUDO_DIRS = ["/proc", "/sys", "/dev"];

const rootPath = str()
  .refine((p) => p.startsWith("/"), "must be an absolute path inside the root")
  .refine((p) => !DOTDOT.test(p), 'must not contain ".." components')
  .refine((p) => !p.includes("\0"), "must not contain a NUL byte");

const bindTarget = rootPath
  .refine((p) => p.replace(/\/+$/, "") !== "", "must not be the root itself")
  .refine(
    (p) => !PSEUDO_DIRS.some((d) => p === d || p.startsWith(`${d}/`)),
    "must not be in /proc, /sys or /dev (the runner mounts those)",
  );

export const chrootWithSchema = z
  .object({
    root: workspacePath.default("rootfs"),
    login: z.boolean().default(true),
    dev: z.enum(["minimal", "devtmpfs"]).default("minimal"),
    resolv_conf: z
      .union([z.enum(["host", "none"]), z.object({ content: z.string() }).strict()], {
        error: 'must be "host", "none" or { content: <the file\'s text> }',
      })
      .default("host"),
    binds: z
      .array(
        z
          .object({
            from: workspacePath,
            to: bindTarget,
            readonly: z.boolean().default(true),
          })
          .strict(),
      )
      .default([]),
    shell: rootPath.default("/bin/bash"),
  })
  .strict();

export type ChrootWith = z.infer<typeof chrootWithSchema>;

function describePath(path: readonly PropertyKey[]): string {
  return path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
}

/** The stage's `with` block, defaults applied; `invalid_pipeline` naming the stage and key path. */
export function parseChrootWith(stage: ResolvedStage): ChrootWith {
  const parsed = chrootWithSchema.safeParse(stage.with);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `with${describePath(i.path)}: ${i.message}`);
  throw new StagefarmError(
    "invalid_pipeline",
    `stage "${stage.name}" (runner chroot): ${problems.join("; ")}`,
    { details: { stage: stage.name, issues: problems } },
  );
}
