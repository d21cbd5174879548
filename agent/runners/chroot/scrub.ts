/**
 * Makes a root that a chroot run left behind fit to be packed as a rootfs artifact:
 * - whatever lies in the root's own proc, sys, dev/pts and dev/shm directories (hidden under
 *   the run's mounts, so never the script's doing) is removed: a packed root holds those as
 *   empty directories, as the procedure's `tar --one-file-system` seed does;
 * - device nodes anywhere in the root are removed (the unpacker refuses them; a run provides
 *   /dev itself), and reported.
 * Only real directories of the root are emptied: a `dev/shm -> /run/shm` link is left alone.
 * Must run after runInChroot returned (no mount is left then).
 */
import { execFile } from "node:child_process";
import { lstat, readdir, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { StagefarmError } from "../../../shared/errors.js";
import { resolveInRoot } from "./paths.js";

const execFileAsync = promisify(execFile);

const PSEUDO_DIRS = ["proc", "sys", "dev/pts", "dev/shm"];

export interface ScrubResult {
  /** Root-relative paths (`./dev/null`) of the device nodes removed. */
  devicesRemoved: string[];
}

export async function scrubRootfs(root: string, signal: AbortSignal): Promise<ScrubResult> {
  for (const rel of PSEUDO_DIRS) {
    const plain = join(root, rel);
    const r = await resolveInRoot(root, `/${rel}`);
    if (r.missing.length > 0 || r.existing !== plain || !(await lstat(plain)).isDirectory()) continue;
    for (const name of await readdir(plain)) await rm(join(plain, name), { recursive: true, force: true });
  }
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      "find",
      [".", "-xdev", "(", "-type", "b", "-o", "-type", "c", ")", "-print0"],
      { cwd: root, signal, maxBuffer: 64 * 1024 * 1024, env: { PATH: "/usr/bin:/bin", LC_ALL: "C" } },
    ));
  } catch (err: unknown) {
    throw StagefarmError.wrap(err, `cannot look for device nodes in ${root}`);
  }
  const devicesRemoved: string[] = [];
  for (const rel of stdout.split("\0")) {
    if (rel === "") continue;
    const path = join(root, rel);
    const st = await lstat(path);
    if (!st.isBlockDevice() && !st.isCharacterDevice()) continue;
    await unlink(path);
    devicesRemoved.push(rel);
  }
  return { devicesRemoved };
}
