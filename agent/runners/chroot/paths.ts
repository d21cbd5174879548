/**
 * Paths inside a chroot root, resolved on the host the way the kernel would resolve them
 * after chroot(2): a symlink is followed relative to the root (an absolute target starts again
 * at the root, `..` stops at it), so a root holding `proc -> /` or `etc/resolv.conf ->
 * /etc/passwd` can never make the runner mount over or create anything outside the root.
 *
 * Mount points the root lacks are created for the run and recorded; `removeCreated` removes
 * them afterwards (only while still empty), so the root ends up as the script left it.
 */
import { lstat, mkdir, readlink, rmdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../../../shared/errors.js";
import { errnoOf } from "../../../shared/util/fs.js";

/** Like Linux's limit on symlinks followed in one lookup. */
const MAX_LINKS = 40;

export interface InRootPath {
  /** Host path of the deepest existing entry reached (symlinks resolved, inside the root). */
  existing: string;
  /** The components below it that do not exist yet (empty when the whole path exists). */
  missing: string[];
}

function isNotFound(err: unknown): boolean {
  return errnoOf(err) === "ENOENT";
}

/** Resolves `path` (absolute inside the root) below `root` (an absolute host path without symlinks). */
export async function resolveInRoot(root: string, path: string): Promise<InRootPath> {
  const cur: string[] = [];
  const queue = path.split("/");
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift() ?? "";
    if (c === "" || c === ".") continue;
    if (c === "..") {
      cur.pop();
      continue;
    }
    const candidate = join(root, ...cur, c);
    let st;
    try {
      st = await lstat(candidate);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw StagefarmError.from(err);
      const missing = [c, ...queue].filter((p) => p !== "" && p !== ".");
      if (missing.includes(".."))
        throw new StagefarmError(
          "invalid_argument",
          `${path} in the root ${root} goes through a missing entry`,
        );
      return { existing: join(root, ...cur), missing };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS)
        throw new StagefarmError(
          "invalid_argument",
          `${path} in the root ${root}: too many levels of symlinks`,
        );
      const target = await readlink(candidate);
      if (target.startsWith("/")) cur.length = 0;
      queue.unshift(...target.split("/"));
      continue;
    }
    if (!st.isDirectory() && queue.some((p) => p !== "" && p !== "."))
      throw new StagefarmError(
        "invalid_argument",
        `${path} in the root ${root}: ${join("/", ...cur, c)} is not a directory`,
      );
    cur.push(c);
  }
  return { existing: join(root, ...cur), missing: [] };
}

export interface CreatedEntry {
  path: string;
  kind: "dir" | "file";
}

/**
 * The host path to mount on for `path` in the root, as a directory or a file, created (with
 * its missing parents) when absent; what was created is appended to `created`.
 */
export async function ensureMountpoint(
  root: string,
  path: string,
  kind: "dir" | "file",
  created: CreatedEntry[],
): Promise<string> {
  const r = await resolveInRoot(root, path);
  if (r.missing.length === 0 && r.existing === root)
    throw new StagefarmError(
      "invalid_argument",
      `${path} in the root ${root} resolves to the root itself (through a symlink)`,
    );
  if (r.missing.length === 0) {
    const st = await lstat(r.existing);
    if (kind === "dir" && !st.isDirectory())
      throw new StagefarmError("invalid_argument", `${path} in the root ${root} is not a directory`);
    if (kind === "file" && !st.isFile())
      throw new StagefarmError("invalid_argument", `${path} in the root ${root} is not a regular file`);
    return r.existing;
  }
  let at = r.existing;
  for (const [i, c] of r.missing.entries()) {
    at = join(at, c);
    if (i < r.missing.length - 1 || kind === "dir") {
      await mkdir(at, { mode: 0o755 });
      created.push({ path: at, kind: "dir" });
    } else {
      await writeFile(at, "", { flag: "wx", mode: 0o644 });
      created.push({ path: at, kind: "file" });
    }
  }
  return at;
}

/** Removes created mount points, deepest first, leaving any the script filled. */
export async function removeCreated(created: readonly CreatedEntry[]): Promise<void> {
  for (const e of [...created].reverse()) {
    try {
      if (e.kind === "dir") {
        await rmdir(e.path);
      } else {
        const st = await lstat(e.path);
        if (st.isFile() && st.size === 0) await unlink(e.path);
      }
    } catch (err: unknown) {
      const code = errnoOf(err);
      if (code !== "ENOENT" && code !== "ENOTEMPTY" && code !== "EEXIST") throw StagefarmError.from(err);
    }
  }
}
