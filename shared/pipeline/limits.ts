/**
 * Per-stage resource limits: `limits: { memory: "8G", cpu: 2 }`.
 *
 * - `memory`: bytes as a number, or a size with a binary unit: `512M`, `8G`, `1.5G`, `65536K`
 *   (K, M, G, T are powers of 1024, as in systemd's MemoryMax; `Ki`/`KiB`/`KB` mean the same).
 *   At least 4 MiB (less than a shell needs to start).
 * - `cpu`: CPUs worth of time, a number from 0.01 to 4096 (`0.5` is half a CPU, `2` two).
 *
 * Only literal values (no `${{ params.X }}`). Limits apply to the processes an agent starts for
 * the stage, so only runners that start them inside the stage's cgroup take them (the `limits`
 * trait in ../runner-kinds.ts): shell, chroot, and emerge in chroot mode (`with.root`); the agent
 * enforces them (agent/cgroup.ts). They are not part of the cache key.
 */
import { isScalar } from "yaml";
import { RUNNER_KINDS, RUNNERS, type RunnerKind } from "../runner-kinds.js";
import type { StageLimits } from "./types.js";
import type { Entry, YamlReader } from "./yaml-reader.js";

export const MIN_MEMORY_BYTES = 4 << 20;
export const MIN_CPU = 0.01;
export const MAX_CPU = 4096;

const UNITS: Readonly<Record<string, number>> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?)?$/i;

/** Bytes of a memory limit, or the reason it is not one. */
export function parseMemoryLimit(value: string | number): number | string {
  const text = String(value).trim();
  const m = SIZE_RE.exec(text);
  if (m === null)
    return `expected a size such as 512M, 8G or a number of bytes, got "${text}" (units K, M, G, T: powers of 1024)`;
  const unit = m[2] === undefined ? 1 : (UNITS[m[2].toUpperCase()] ?? 1);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) return `"${text}" is too large`;
  if (bytes < MIN_MEMORY_BYTES)
    return `"${text}" is less than the smallest limit, ${formatBytes(MIN_MEMORY_BYTES)}`;
  return bytes;
}

/** CPUs of a cpu limit, or the reason it is not one. */
export function parseCpuLimit(value: string | number): number | string {
  const n = typeof value === "number" ? value : /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(n)) return `expected a number of CPUs such as 0.5 or 2, got "${String(value)}"`;
  if (n < MIN_CPU || n > MAX_CPU) return `${n} is outside ${MIN_CPU}…${MAX_CPU}`;
  return n;
}

/** "64M", "8G", "1536M", "123456": a byte count as a pipeline author would write it. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of Object.entries(UNITS).reverse())
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

/** "memory 64M, cpu 2". */
export function describeLimits(limits: StageLimits): string {
  const parts: string[] = [];
  if (limits.memoryBytes !== undefined) parts.push(`memory ${formatBytes(limits.memoryBytes)}`);
  if (limits.cpu !== undefined) parts.push(`cpu ${limits.cpu}`);
  return parts.join(", ");
}

/** Whether any limit is set. */
export function hasLimits(limits: StageLimits | undefined): limits is StageLimits {
  return limits !== undefined && (limits.memoryBytes !== undefined || limits.cpu !== undefined);
}

/** "shell, chroot and emerge (chroot mode)": the runners that take limits, for messages. */
function limitedRunners(): string {
  const kinds = RUNNER_KINDS.flatMap((k) =>
    RUNNERS[k].limits === "always" ? [k] : RUNNERS[k].limits === "with-root" ? [`${k} (chroot mode)`] : [],
  );
  return kinds.length > 1 ? `${kinds.slice(0, -1).join(", ")} and ${kinds.at(-1) ?? ""}` : kinds.join("");
}

/**
 * Why a stage of this runner (with this `with` data) cannot have limits, or undefined when it
 * can. The parser reports it at the `limits` key; the agent checks again before running.
 */
export function limitsRunnerProblem(
  runner: RunnerKind,
  withData: Readonly<Record<string, unknown>>,
): string | undefined {
  switch (RUNNERS[runner].limits) {
    case "always":
      return undefined;
    case "with-root":
      return withData["root"] === undefined
        ? `limits apply to ${runner} stages in chroot mode only (with "with.root"); in host mode the agent's own ${runner} runs outside the stage's cgroup`
        : undefined;
    case "never":
      return `limits apply to ${limitedRunners()} stages; runner "${runner}" starts processes the agent does not confine`;
  }
}

const LIMIT_KEYS = ["memory", "cpu"] as const;

/** Reads a stage's `limits` mapping, reporting each problem at its node. */
export function readLimits(r: YamlReader, e: Entry, where: string): StageLimits | undefined {
  const f = r.fields(e.value, e.key, `${where} limits`, LIMIT_KEYS);
  const limits: StageLimits = {};
  const scalar = (x: Entry, what: string): string | number | undefined => {
    const node = r.deref(x.value);
    const v: unknown = node !== undefined && isScalar(node) ? node.value : undefined;
    if (typeof v === "string" || typeof v === "number") return v;
    r.error(node ?? x.key, `${where} limits.${what}: expected a number or a string, got ${r.describe(node)}`);
    return undefined;
  };
  const memory = f.get("memory");
  const memoryValue = memory && scalar(memory, "memory");
  if (memory && memoryValue !== undefined) {
    const bytes = parseMemoryLimit(memoryValue);
    if (typeof bytes === "string") r.error(memory.value ?? memory.key, `${where} limits.memory: ${bytes}`);
    else limits.memoryBytes = bytes;
  }
  const cpu = f.get("cpu");
  const cpuValue = cpu && scalar(cpu, "cpu");
  if (cpu && cpuValue !== undefined) {
    const n = parseCpuLimit(cpuValue);
    if (typeof n === "string") r.error(cpu.value ?? cpu.key, `${where} limits.cpu: ${n}`);
    else limits.cpu = n;
  }
  return hasLimits(limits) ? limits : undefined;
}
