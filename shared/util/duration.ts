import { StagefarmError } from "../errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "90s", "1h30m", "2d", or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string | number): number {
  if (typeof text === "number") {
    if (!Number.isFinite(text) || text < 0)
      throw new StagefarmError("invalid_argument", `invalid duration ${text}`);
    return Math.round(text * 1000);
  }
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (UNITS[m[2] ?? "s"] ?? 1000);
    consumed = re.lastIndex;
  }
  if (consumed !== s.length || s.length === 0)
    throw new StagefarmError(
      "invalid_argument",
      `invalid duration "${text}" (use e.g. 90s, 45m, 12h, 1h30m)`,
    );
  return Math.round(total);
}

/** Formats a duration for humans: 0.4s, 12s, 3m05s, 2h14m. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, "0")}m`;
}
