/**
 * A real Debian bookworm chroot for the chroot runner tests, made with
 * `debootstrap --variant=minbase` once per machine and reused (it takes about a minute).
 *
 * Protocol
 * - The cache lives in `<os.tmpdir()>/stagefarm-debootstrap-bookworm-minbase/`: `rootfs/` is the
 *   tree, `rootfs.tar.zst` its deterministic packing (device nodes left out: the unpacker
 *   refuses them), and `complete` is written last. Without `complete` nothing there is used.
 * - Building holds a lock (the directory `lock/`, created atomically, holding the builder's
 *   pid): a second test file waits for it instead of building too; a lock whose process is gone
 *   is broken. The tree is built in `build-<pid>/` and renamed into place when debootstrap
 *   succeeded.
 * - `debootstrapRootfs(store)` puts the packed tree into the given store and returns its ref.
 */
import { execFile } from "node:child_process";
import { access, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { StagefarmError } from "../../shared/errors.js";
import { packTreeToFile } from "../../shared/pack/index.js";
import type { ArtifactRef } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";

const execFileAsync = promisify(execFile);

export const DEBOOTSTRAP_SUITE = "bookworm";
export const DEBOOTSTRAP_MIRROR = "http://deb.debian.org/debian";
/** How long a test file waits for another one's build (debootstrap itself takes about a minute). */
const LOCK_WAIT_MS = 15 * 60_000;

function cacheDir(): string {
  return join(tmpdir(), `stagefarm-debootstrap-${DEBOOTSTRAP_SUITE}-minbase`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The cached tree and its packing, built first if needed. */
export async function debootstrapCache(): Promise<{ rootfs: string; archive: string }> {
  const dir = cacheDir();
  const result = { rootfs: join(dir, "rootfs"), archive: join(dir, "rootfs.tar.zst") };
  const complete = join(dir, "complete");
  if (await exists(complete)) return result;
  await mkdir(dir, { recursive: true });
  const lock = join(dir, "lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw StagefarmError.from(err);
    }
    const holder = Number((await readFile(join(lock, "pid"), "utf8").catch(() => "")).trim());
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (await exists(complete)) return result;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for another process building the debootstrap chroot in ${dir}`);
    await sleep(500);
  }
  try {
    await writeFile(join(lock, "pid"), `${process.pid}\n`);
    if (await exists(complete)) return result;
    await build(dir, result);
    await writeFile(complete, `${new Date().toISOString()}\n`);
    return result;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function build(dir: string, result: { rootfs: string; archive: string }): Promise<void> {
  try {
    await execFileAsync("debootstrap", ["--version"]);
  } catch (err: unknown) {
    throw new Error(
      "the chroot tests need debootstrap (apt-get install debootstrap); running it failed: " +
        (err instanceof Error ? err.message : String(err)),
      { cause: err },
    );
  }
  const work = join(dir, `build-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await rm(result.rootfs, { recursive: true, force: true });
  try {
    await execFileAsync("debootstrap", ["--variant=minbase", DEBOOTSTRAP_SUITE, work, DEBOOTSTRAP_MIRROR], {
      maxBuffer: 64 * 1024 * 1024,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
    });
  } catch (err: unknown) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`debootstrap ${DEBOOTSTRAP_SUITE} into ${work} failed: ${e.stderr ?? e.message ?? ""}`, {
      cause: err,
    });
  }
  await rename(work, result.rootfs);
  // Device nodes (debootstrap makes /dev/null etc.) are refused by the unpacker: leave them out.
  const { stdout } = await execFileAsync("find", [".", "-xdev", "(", "-type", "b", "-o", "-type", "c", ")"], {
    cwd: result.rootfs,
  });
  const devices = stdout.split("\n").filter((l) => l !== "");
  await packTreeToFile(result.rootfs, result.archive, { exclude: devices });
}

/** The debootstrap chroot as a rootfs tree artifact in `store`. */
export async function debootstrapRootfs(store: ArtifactStore): Promise<ArtifactRef> {
  const { archive } = await debootstrapCache();
  const blob = await store.putBlobFile(archive);
  return { digest: blob.digest, size: blob.size, kind: "tree" };
}
