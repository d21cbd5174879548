/**
 * The cgroup of the stage being run, for the code that starts its processes.
 *
 * The executor creates a stage's cgroup (./cgroup.ts) and runs the runner inside
 * {@link runInStageCgroup}; the places that start a stage's processes (the shell runner,
 * `runInChroot` for the chroot and emerge runners) start them through {@link confine} and
 * check {@link assertConfined} afterwards. An AsyncLocalStorage carries the group so that
 * runners which reach `runInChroot` through their own helpers (emerge's steps) need no extra
 * parameter. Outside a stage with limits there is none, and commands run as they are.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { StagefarmError } from "../shared/errors.js";
import type { CgroupCommand, StageCgroup } from "./cgroup.js";
import type { ProcessOutcome } from "./process-group.js";

const current = new AsyncLocalStorage<StageCgroup>();

/** Runs `fn` with `cgroup` as the current stage's cgroup (none when undefined). */
export function runInStageCgroup<T>(cgroup: StageCgroup | undefined, fn: () => Promise<T>): Promise<T> {
  return cgroup === undefined ? current.exit(fn) : current.run(cgroup, fn);
}

/** The current stage's cgroup, if it has limits. */
export function stageCgroup(): StageCgroup | undefined {
  return current.getStore();
}

/** `file args`, wrapped to join the current stage's cgroup first when there is one. */
export function confine(file: string, args: readonly string[]): CgroupCommand {
  const cgroup = stageCgroup();
  if (cgroup !== undefined) return cgroup.wrap(file, args);
  return { file, args: [...args], joined: () => Promise.resolve(true) };
}

/**
 * Throws when a confined command that was neither cancelled nor timed out never joined its
 * cgroup: it did not run (the wrapper's complaint is in the log).
 */
export async function assertConfined(
  cmd: CgroupCommand,
  outcome: ProcessOutcome,
  what: string,
): Promise<void> {
  if (outcome.cancelled || outcome.timedOut || (await cmd.joined())) return;
  const where = stageCgroup()?.describe ?? "its cgroup";
  throw new StagefarmError(
    "internal",
    `${what}: could not move its processes into ${where} (exit status ${outcome.exitCode ?? outcome.signal ?? "unknown"}); it was not run`,
    { details: { exitCode: outcome.exitCode, signal: outcome.signal } },
  );
}
