/**
 * Where a stage's processes can be found again after the agent died: every process group a
 * runner starts (./process-group.ts) is written, as "<pgid> <start time>", to a ledger file in
 * the workspace's private area (`.stagefarm/pgroups`). The executor opens the scope around the
 * runner (AsyncLocalStorage, as ./cgroup-scope.ts does for cgroups), so runners need not know.
 *
 * A SIGKILLed agent cannot kill its stages' groups; the next agent on the same work directory
 * reads the ledgers of the workspaces it finds (./stale-work.ts) and kills what is left.
 * Processes are identified by pid and start time (fields of /proc/<pid>/stat): a group whose
 * leader is alive with another start time is a reused number and left alone.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { appendFile, readdir, readFile } from "node:fs/promises";
import { StagefarmError } from "../shared/errors.js";
import { errnoOf } from "../shared/util/fs.js";

const scope = new AsyncLocalStorage<string>();

/** Runs `fn` with process groups recorded in `ledgerFile`. */
export function withProcessLedger<T>(ledgerFile: string, fn: () => Promise<T>): Promise<T> {
  return scope.run(ledgerFile, fn);
}

/** A process as /proc shows it: pid, process group, start time (clock ticks since boot). */
export interface ProcInfo {
  pid: number;
  pgrp: number;
  startTime: string;
}

/** Fields 5 (pgrp) and 22 (start time) of /proc/<pid>/stat; undefined when gone or a zombie. */
export async function procInfo(pid: number): Promise<ProcInfo | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch (err: unknown) {
    const code = errnoOf(err);
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw StagefarmError.from(err);
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [state, , pgrp] = rest;
  const startTime = rest[19];
  if (state === undefined || pgrp === undefined || startTime === undefined) return undefined;
  if (state === "Z" || state === "X") return undefined;
  return { pid, pgrp: Number(pgrp), startTime };
}

/** Every live process (zombies left out). */
export async function listProcs(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = await procInfo(Number(name));
    if (p !== undefined) out.push(p);
  }
  return out;
}

/**
 * Records the group led by `pid` in the current scope's ledger (nothing outside a scope). A
 * failure is thrown: a group that could not be recorded could outlive a crash unnoticed.
 */
export async function recordProcessGroup(pid: number): Promise<void> {
  const file = scope.getStore();
  if (file === undefined) return;
  const p = await procInfo(pid);
  // Already gone: nothing of it can be left to find.
  if (p === undefined) return;
  await appendFile(file, `${pid} ${p.startTime}\n`);
}

/** The groups a ledger lists (malformed lines skipped; a missing ledger is empty). */
export async function readLedger(file: string): Promise<Array<{ pgid: number; startTime: string }>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT") return [];
    throw StagefarmError.from(err);
  }
  const out: Array<{ pgid: number; startTime: string }> = [];
  for (const line of text.split("\n")) {
    const m = /^(\d{1,10}) (\d{1,20})$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && Number(m[1]) > 1)
      out.push({ pgid: Number(m[1]), startTime: m[2] });
  }
  return out;
}
