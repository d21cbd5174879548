/**
 * Stage workspaces: one fresh directory per attempt, `<workRoot>/<run>-<stage>-<attempt>-<rand>`,
 * holding the placed inputs, the runner's files and the outputs. Its private area
 * (`.stagefarm/`: the script, the log, TMPDIR) belongs to stagefarm, not to the stage.
 *
 * Paths a pipeline names (input and output paths) are workspace-relative; every one is checked
 * here before stagefarm writes or reads through it, lexically and (for existing parts) by real
 * path, so a placed tree holding `var -> /` cannot redirect a write outside the workspace.
 */
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { execa } from "execa";
import { StagefarmError } from "../shared/errors.js";

/** The workspace's private area, relative to the workspace. */
export const PRIVATE_DIR = ".stagefarm";

export function privatePath(workspace: string, ...parts: string[]): string {
  return join(workspace, PRIVATE_DIR, ...parts);
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
}

/** Creates a fresh, empty workspace (and its private area) under `workRoot`. */
export async function createWorkspace(
  workRoot: string,
  job: { runId: string; stage: string; attempt: number },
): Promise<string> {
  await mkdir(workRoot, { recursive: true });
  const name = `${safeName(job.runId)}-${safeName(job.stage)}-${job.attempt}-${randomBytes(4).toString("hex")}`;
  const ws = join(await realpath(workRoot), name);
  await mkdir(ws);
  await mkdir(privatePath(ws, "tmp"), { recursive: true });
  return ws;
}

/**
 * The marker of a workspace kept for inspection: `<workspace>.kept` beside it, out of the
 * stage's reach (a stage cannot mark its own workspace). The stale-work sweep leaves a marked
 * workspace alone, and removes markers whose workspace was removed by hand.
 */
export function keptMarker(workspace: string): string {
  return `${workspace}.kept`;
}

export async function markKept(workspace: string): Promise<void> {
  await writeFile(keptMarker(workspace), `${new Date().toISOString()}\n`);
}

/** Whether `child` is `parent` or below it (both absolute and normalised). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Resolves a pipeline-given workspace-relative path, refusing absolute paths and `..` escapes. */
export function resolveInWorkspace(workspace: string, rel: string, what: string): string {
  const abs = resolve(workspace, rel);
  if (isAbsolute(rel) || !isInside(workspace, abs))
    throw new StagefarmError("invalid_argument", `${what}: path "${rel}" must stay inside the workspace`);
  return abs;
}

/** The nearest existing entry at or above `abs` (not following a final symlink). */
async function nearestExisting(abs: string): Promise<string> {
  for (let p = abs; ; p = dirname(p)) {
    try {
      await lstat(p);
      return p;
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      if (e.code !== "not_found" || dirname(p) === p) throw e;
    }
  }
}

/**
 * Resolves where to write `rel` and creates its parent directory. Refuses (`unsafe_archive`) when
 * the real path of what already exists there leads outside the workspace through a symlink.
 */
export async function preparePlacement(workspace: string, rel: string, what: string): Promise<string> {
  const abs = resolveInWorkspace(workspace, rel, what);
  const root = await realpath(workspace);
  const existing = await nearestExisting(abs);
  let real: string;
  try {
    real = await realpath(existing);
  } catch (err: unknown) {
    throw new StagefarmError(
      "unsafe_archive",
      `${what}: "${rel}" passes through a dangling symlink at ${existing}`,
      {
        cause: err,
      },
    );
  }
  if (!isInside(root, real))
    throw new StagefarmError(
      "unsafe_archive",
      `${what}: "${rel}" would be written outside the workspace (${existing} resolves to ${real})`,
    );
  await mkdir(dirname(abs), { recursive: true });
  return abs;
}

/** Mount points at or below `dir` (from /proc/self/mountinfo; empty where that is unreadable). */
async function mountsBelow(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile("/proc/self/mountinfo", "utf8");
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return [];
    throw e;
  }
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split("\n")
    .map((line) => unescape(line.split(" ")[4] ?? ""))
    .filter((mp) => mp !== "" && isInside(dir, mp));
}

/**
 * Removes a workspace. Refuses while anything is still mounted below it: deleting through a
 * bind mount of /dev or a host directory would destroy what it points at.
 *
 * GNU `rm -rf` does the removal: it walks the tree through directory descriptors, so a stage
 * that built a tree thousands of levels deep (past PATH_MAX, where Node's `rm` fails with
 * ENAMETOOLONG) is removed too; `--one-file-system` keeps it off anything mounted meanwhile.
 * A failure (an immutable file, a busy mount) throws `internal` with rm's own words.
 */
export async function removeWorkspace(workspace: string): Promise<void> {
  const mounts = await mountsBelow(workspace);
  if (mounts.length > 0)
    throw new StagefarmError(
      "internal",
      `refusing to remove workspace ${workspace}: still mounted below it: ${mounts.join(", ")}`,
    );
  const r = await execa("rm", ["-rf", "--one-file-system", "--", workspace], {
    reject: false,
    env: { LC_ALL: "C" },
    stdin: "ignore",
  });
  if (r.failed)
    throw new StagefarmError(
      "internal",
      `cannot remove workspace ${workspace}: rm ${r.exitCode === undefined ? "failed" : `exited with status ${r.exitCode}`}: ${r.stderr.trim().split("\n").slice(-3).join("; ")}`,
      { cause: r },
    );
}
