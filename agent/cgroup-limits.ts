/**
 * What a stage's limits mean in cgroup interface files, for both cgroup versions:
 *
 * | limit | cgroup v2 | cgroup v1 |
 * | --- | --- | --- |
 * | memory | `memory.max`, `memory.swap.max` = 0, `memory.oom.group` = 1 | `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` |
 * | cpu | `cpu.max` = "quota period" | `cpu.cfs_period_us`, `cpu.cfs_quota_us` |
 *
 * Swap is limited too (v2: none; v1: memory + swap = the limit), so a stage over its limit is
 * killed instead of swapping. On v2 an OOM kills the whole group (`memory.oom.group`), so the
 * stage fails at once instead of carrying on with a process missing. Files that a kernel does
 * not have (no swap accounting) are skipped: `optional`. OOM kills are counted from
 * `memory.events` (v2) or `memory.oom_control` (v1): the `oom_kill N` line of either.
 */
import type { StageLimits } from "../shared/pipeline/index.js";

export const CPU_PERIOD_US = 100_000;

export interface LimitWrite {
  /** The controller whose directory holds the file. */
  controller: "memory" | "cpu";
  file: string;
  value: string;
  /** Skipped when the kernel does not offer the file. */
  optional: boolean;
}

/** The controllers a stage's limits need. */
export function controllersFor(limits: StageLimits): Array<"memory" | "cpu"> {
  const out: Array<"memory" | "cpu"> = [];
  if (limits.memoryBytes !== undefined) out.push("memory");
  if (limits.cpu !== undefined) out.push("cpu");
  return out;
}

/** The writes that set `limits`, in order. */
export function limitWrites(version: 1 | 2, limits: StageLimits): LimitWrite[] {
  const out: LimitWrite[] = [];
  const w = (controller: "memory" | "cpu", file: string, value: string | number, optional = false): void => {
    out.push({ controller, file, value: String(value), optional });
  };
  const mem = limits.memoryBytes;
  if (mem !== undefined) {
    if (version === 2) {
      w("memory", "memory.max", mem);
      w("memory", "memory.swap.max", 0, true);
      w("memory", "memory.oom.group", 1, true);
    } else {
      w("memory", "memory.limit_in_bytes", mem);
      w("memory", "memory.memsw.limit_in_bytes", mem, true);
    }
  }
  if (limits.cpu !== undefined) {
    const quota = Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US));
    if (version === 2) w("cpu", "cpu.max", `${quota} ${CPU_PERIOD_US}`);
    else {
      w("cpu", "cpu.cfs_period_us", CPU_PERIOD_US);
      w("cpu", "cpu.cfs_quota_us", quota);
    }
  }
  return out;
}

/** The file counting OOM kills in a group's memory directory. */
export function oomEventsFile(version: 1 | 2): string {
  return version === 2 ? "memory.events" : "memory.oom_control";
}

/** The `oom_kill N` count of memory.events or memory.oom_control (0 when absent). */
export function parseOomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}
