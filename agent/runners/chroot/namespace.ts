/**
 * Waiting for a chroot run's namespaces to be gone. Every process of a run lives in the run's
 * pid namespace, whose init is the setup script; when init exits, the kernel kills every other
 * process of the namespace and waits for them before init itself becomes a zombie. So "init
 * gone (or a zombie)" means "no process of the run left", and with the last process the
 * kernel drops the run's mount namespace and all its mounts.
 *
 * Processes are identified by pid *and* start time (from /proc/<pid>/stat), so a reused pid is
 * never mistaken for the run's init. Namespace inode numbers are reused too, which is why they
 * are not used for this.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../../shared/errors.js";
import { errnoOf } from "../../../shared/util/fs.js";

/** A process as /proc knows it: the pid and its start time in clock ticks since boot. */
export interface ProcessIdentity {
  pid: number;
  startTime: string;
}

/** "<pid> <start time>", as the setup script and {@link ownIdentity} write it. */
export function parseIdentity(text: string): ProcessIdentity | undefined {
  const m = /^(\d+) (\d+)\s*$/.exec(text);
  return m?.[1] !== undefined && m[2] !== undefined ? { pid: Number(m[1]), startTime: m[2] } : undefined;
}

export function formatIdentity(p: ProcessIdentity): string {
  return `${p.pid} ${p.startTime}\n`;
}

export async function readIdentity(file: string): Promise<ProcessIdentity | undefined> {
  try {
    return parseIdentity(await readFile(file, "utf8"));
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw StagefarmError.from(err);
  }
}

/** State letter and start time of `pid` (fields 3 and 22 of /proc/<pid>/stat); undefined if gone. */
async function procStat(pid: number): Promise<{ state: string; startTime: string } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch (err: unknown) {
    const code = errnoOf(err);
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw StagefarmError.from(err);
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = rest[0];
  const startTime = rest[19];
  return state !== undefined && startTime !== undefined ? { state, startTime } : undefined;
}

/** Whether the process is still running (not gone, not a zombie, not a newer one with its pid). */
export async function isRunning(p: ProcessIdentity): Promise<boolean> {
  const st = await procStat(p.pid);
  return st !== undefined && st.startTime === p.startTime && st.state !== "Z" && st.state !== "X";
}

/** This process's identity. */
export async function ownIdentity(): Promise<ProcessIdentity> {
  const st = await procStat(process.pid);
  if (!st) throw new StagefarmError("internal", "cannot read /proc/self/stat");
  return { pid: process.pid, startTime: st.startTime };
}

/**
 * Waits until the run's init has ended (so every process and mount of the run is gone). It is
 * SIGKILLed if still running (the pid namespace goes with it); after `deadlineMs` this fails.
 */
export async function awaitNamespaceGone(init: ProcessIdentity, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let killed = false;
  while (await isRunning(init)) {
    if (!killed) {
      try {
        process.kill(init.pid, "SIGKILL");
      } catch (err: unknown) {
        if (errnoOf(err) !== "ESRCH") throw StagefarmError.from(err);
      }
      killed = true;
    }
    if (Date.now() > deadline)
      throw new StagefarmError(
        "internal",
        `the chroot run's init (pid ${init.pid}) is still running ${deadlineMs} ms after the run ended`,
        { details: { pid: init.pid } },
      );
    await sleep(20);
  }
}
