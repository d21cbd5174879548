/**
 * An exclusive lock between processes on one filesystem store: the kernel's `flock(2)` on a
 * lock file, held by a `flock(1)` helper (util-linux; node has no flock) whose command is
 * `cat` reading our pipe.
 *
 * Protocol: spawn `flock -x LOCKFILE cat` in its own process group, write one line to its
 * stdin; `cat` runs (and echoes the line) only once flock holds the lock, so the echo is the
 * grant. Release: end stdin, `cat` exits, flock exits, the kernel drops the lock.
 *
 * Why this and not a lock file made with O_EXCL (or mkdir) plus a staleness rule: a crashed
 * holder needs no staleness rule here. When our process dies in any way (SIGKILL included),
 * the kernel closes the pipe, `cat` sees end of file and exits, and the lock is released at
 * once; nothing is left behind and nobody has to decide that a holder is dead (a pid check is
 * fooled by pid reuse and says nothing across hosts; breaking a stale lock file safely needs
 * another lock). The helper has its own process group, so a Ctrl-C on the terminal does not
 * take the lock from a process that is still writing; if the helper dies anyway, the release
 * reports that the lock was lost. On NFS, Linux maps flock to NFS byte-range locks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { errnoOf } from "../util/fs.js";

export interface HeldLock extends AsyncDisposable {
  /** Releases the lock; idempotent. Throws `unavailable` if the lock was lost while held. */
  release(): Promise<void>;
}

const GRANT = "granted\n";

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("close", (code) => resolve(code)));
}

/** Waits for the lock on `file` (created if absent); an abort gives up waiting (`cancelled`). */
export async function lockFile(file: string, what: string, signal?: AbortSignal): Promise<HeldLock> {
  throwIfAborted(signal);
  await mkdir(dirname(file), { recursive: true });
  await (await open(file, "a")).close();
  const child = spawn("flock", ["-x", file, "cat"], { stdio: ["pipe", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const done = exited(child);
  const granted = new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.startsWith(GRANT)) resolve();
    });
    child.once("error", (err: unknown) => {
      const missing = errnoOf(err) === "ENOENT";
      reject(
        new StagefarmError(
          "unavailable",
          missing
            ? `${what}: flock(1) (util-linux) is not on PATH; the filesystem store needs it to lock binhost writes`
            : `${what}: cannot start flock(1)`,
          { cause: err },
        ),
      );
    });
    void done.then((code) =>
      reject(
        new StagefarmError("unavailable", `${what}: flock(1) exited (${code ?? "signal"}): ${stderr.trim()}`),
      ),
    );
  });
  child.stdin.on("error", () => undefined); // EPIPE when the helper is gone: reported by `done`
  child.stdin.write(GRANT);
  const onAbort = (): void => {
    child.kill("SIGKILL");
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted === true) onAbort();
  try {
    await granted;
  } catch (err: unknown) {
    child.kill("SIGKILL");
    await done;
    throwIfAborted(signal);
    throw StagefarmError.from(err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  let released: Promise<void> | undefined;
  const release = (): Promise<void> =>
    (released ??= (async () => {
      const lost = child.exitCode !== null || child.signalCode !== null;
      child.stdin.end();
      await done;
      if (lost)
        throw new StagefarmError("unavailable", `${what}: the lock was lost while held (flock(1) died)`);
    })());
  return { release, [Symbol.asyncDispose]: release };
}
