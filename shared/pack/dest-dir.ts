/**
 * The destination of an unpack: absent (created) or an empty directory, never a symlink, and
 * put back the way it was found when extraction fails. Plus a cheap identity of the archive
 * file, so an archive modified between the validation pass and extraction is noticed.
 */
import { chmod, chown, lstat, readdir, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../errors.js";
import { errnoOf } from "../util/fs.js";

/** How the destination was found: absent, or an empty directory with this mode, owner and times. */
export type DestState =
  { t: "absent" } | { t: "empty"; mode: number; uid: number; gid: number; atime: Date; mtime: Date };

/** Throws `invalid_argument` unless `dest` is absent or an empty real directory. */
export async function checkDest(dest: string): Promise<DestState> {
  let st;
  try {
    st = await lstat(dest);
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT") return { t: "absent" };
    throw StagefarmError.wrap(err, `cannot use ${dest} as unpack destination`);
  }
  if (st.isSymbolicLink())
    throw new StagefarmError(
      "invalid_argument",
      `unpack destination ${dest} is a symlink; give a real directory`,
    );
  if (!st.isDirectory())
    throw new StagefarmError("invalid_argument", `unpack destination ${dest} is not a directory`);
  const names = await readdir(dest);
  if (names.length > 0)
    throw new StagefarmError(
      "invalid_argument",
      `unpack destination ${dest} is not empty (it holds ${names.slice(0, 3).join(", ")}${names.length > 3 ? ", …" : ""})`,
    );
  return { t: "empty", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, atime: st.atime, mtime: st.mtime };
}

/**
 * Removes what an extraction left in `dest`: all of it if it was absent; its contents if it was
 * an empty directory, whose mode, owner and times (which the archive's "./" entry may have
 * changed) are then put back.
 */
export async function restoreDest(dest: string, state: DestState): Promise<void> {
  try {
    if (state.t === "absent") {
      await rm(dest, { recursive: true, force: true });
      return;
    }
    for (const name of await readdir(dest)) await rm(join(dest, name), { recursive: true, force: true });
    await chown(dest, state.uid, state.gid);
    await chmod(dest, state.mode);
    await utimes(dest, state.atime, state.mtime);
  } catch (err: unknown) {
    throw StagefarmError.wrap(err, `cannot remove the partial extraction in ${dest}`);
  }
}

/** Device, inode, size and change times: any write to the file changes its ctime. */
export async function fileIdentity(file: string): Promise<string> {
  const st = await stat(file, { bigint: true });
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(":");
}
