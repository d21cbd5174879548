/**
 * Probes for what a run may leave behind on this machine: processes with a marker argument on
 * their command line, processes in a mount namespace, mount points of the host's namespace under
 * a directory. (Waiting for one of them: ./poll.ts.)
 */
import { randomInt } from "node:crypto";
import { readdir, readFile, readlink } from "node:fs/promises";
import { StagefarmError } from "../../shared/errors.js";

/** A `sleep` duration no other process on the machine has on its command line. */
export function marker(): string {
  return `299.${randomInt(100_000_000, 999_999_999)}`;
}

/**
 * Where `processesWith` looks for its text on a command line: as one whole argument (the default),
 * as argv[0] (a program started with `exec -a TEXT`), or inside any argument.
 */
export type CmdlineMatch = "argument" | "argv0" | "substring";

const matchers: Record<CmdlineMatch, (argv: string[], text: string) => boolean> = {
  argument: (argv, text) => argv.includes(text),
  argv0: (argv, text) => argv[0] === text,
  substring: (argv, text) => argv.some((a) => a.includes(text)),
};

/** Pids of the live processes with `text` on their command line (zombies have an empty one). */
export async function processesWith(text: string, opts: { match?: CmdlineMatch } = {}): Promise<number[]> {
  const matches = matchers[opts.match ?? "argument"];
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (matches(cmdline.split("\0"), text)) found.push(Number(name));
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH") throw StagefarmError.from(err);
    }
  }
  return found;
}

/** Pids of the live processes in mount namespace `mountNs` (e.g. "mnt:[4026532451]"). */
export async function processesInMountNs(mountNs: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readlink(`/proc/${name}/ns/mnt`)) === mountNs) found.push(Number(name));
    } catch (err: unknown) {
      // Gone meanwhile, a zombie, or a process we may not inspect (no descendant of ours).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH" && code !== "EACCES" && code !== "EPERM")
        throw StagefarmError.from(err);
    }
  }
  return found;
}

/** Mount points of this (the host's) mount namespace at or below `dir`. */
export async function hostMountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}
