/**
 * The catalyst runner's releng checkout: found where the stage placed it, edited in place with
 * the pipeline's `releng_edits` (pure logic in shared/catalyst/releng-edits.ts), and the spec
 * template read from it. The workspace is the stage's own, so editing the placed copy changes
 * nothing anyone else sees. Every path is checked to stay inside the checkout (no `..`, no
 * symlink leading out), and each edit is logged.
 */
import { readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { applyRelengEdit, type RelengEdit } from "../../../shared/catalyst/index.js";
import { StagefarmError } from "../../../shared/errors.js";
import { isInside, preparePlacement, resolveInWorkspace } from "../../workspace.js";

export interface RelengContext {
  stage: string;
  workspace: string;
  /** Workspace-relative path of the checkout. */
  releng: string;
  log: (line: string) => void;
}

/** The checkout's absolute real path; `invalid_pipeline` when it is not a placed directory. */
export async function relengRoot(ctx: RelengContext): Promise<string> {
  const abs = resolveInWorkspace(ctx.workspace, ctx.releng, `stage "${ctx.stage}" with.releng`);
  const st = await stat(abs).catch((err: unknown) => {
    const e = StagefarmError.from(err);
    if (e.code !== "not_found") throw e;
    return undefined;
  });
  if (!st?.isDirectory())
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${ctx.stage}": the releng checkout is not at "${ctx.releng}" in the workspace (declare a tree input placed there, or set with.releng)`,
    );
  const real = await realpath(abs);
  if (!isInside(await realpath(ctx.workspace), real))
    throw new StagefarmError(
      "unsafe_archive",
      `stage "${ctx.stage}": "${ctx.releng}" leads outside the workspace`,
    );
  return real;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
}

/** Applies the edits in order; the first that does not apply stops the stage. */
export async function applyRelengEdits(ctx: RelengContext, edits: readonly RelengEdit[]): Promise<void> {
  for (const [index, edit] of edits.entries()) {
    const what = `stage "${ctx.stage}" releng edit ${index + 1} (${edit.file})`;
    // Checked against the workspace (symlinks included) and lexically against the checkout.
    const path = await preparePlacement(ctx.workspace, join(ctx.releng, edit.file), what);
    const st = await stat(path).catch(() => undefined);
    if (st?.isDirectory())
      throw new StagefarmError("invalid_pipeline", `${what}: ${edit.file} is a directory, not a file`);
    const result = applyRelengEdit(await readIfExists(path), edit, { stage: ctx.stage, index });
    if (result.t === "remove") await rm(path);
    else await writeFile(path, result.text);
    ctx.log(`releng edit ${index + 1}: ${edit.file}: ${result.summary}`);
  }
}

/** The spec template's text; `invalid_pipeline` when the checkout has no such file. */
export async function readSpecTemplate(ctx: RelengContext, spec: string): Promise<string> {
  const path = await preparePlacement(
    ctx.workspace,
    join(ctx.releng, spec),
    `stage "${ctx.stage}" with.spec`,
  );
  const text = await readIfExists(path);
  if (text === undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${ctx.stage}": spec template "${spec}" is not in the releng checkout (${ctx.releng})`,
    );
  return text;
}
