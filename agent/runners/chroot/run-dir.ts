/**
 * The private directory of one chroot run, under the OS temp dir (never in the root):
 * `stagefarm-chroot-XXXXXX/` holding `owner` (the agent process, "<pid> <start time>"), the
 * setup script, the stage script and resolv.conf content until the setup deletes them, `init`
 * (the run's init, written by the setup) and `started`. The owner removes it after the run; a
 * directory left by an owner that was killed is removed by the next run on the machine.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIdentity, isRunning, ownIdentity, readIdentity } from "./namespace.js";

const PREFIX = "stagefarm-chroot-";

export async function createRunDir(): Promise<string> {
  await sweepStaleRunDirs();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  await writeFile(join(dir, "owner"), formatIdentity(await ownIdentity()));
  return dir;
}

/** Removes run directories whose owner process is gone (and whose init, if any, is gone too). */
export async function sweepStaleRunDirs(): Promise<void> {
  const parent = tmpdir();
  for (const name of await readdir(parent)) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(parent, name);
    const owner = await readIdentity(join(dir, "owner")).catch(() => undefined);
    if (owner === undefined || (await isRunning(owner))) continue;
    const init = await readIdentity(join(dir, "init")).catch(() => undefined);
    if (init !== undefined && (await isRunning(init))) continue;
    await rm(dir, { recursive: true, force: true });
  }
}
