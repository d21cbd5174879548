/**
 * Stored stage logs (`logs/<run>/<stage>/<attempt>.log`) for the dashboard, read by byte range
 * so a log of hundreds of megabytes is never loaded whole: the page asks for its tail, then for
 * earlier windows: ranged reads of the store (a file read at an offset, an S3 ranged GET).
 *
 * Search streams the log once and returns the matching lines with their byte offsets, so the
 * page can open a window around any of them.
 */
import type { Readable } from "node:stream";
import { StagefarmError } from "../../shared/errors.js";
import { decodeLogTimes, logTimesPath, MAX_LOG_TIMES_BYTES, type LogTimes } from "../../shared/log-times.js";
import { assertLogPath, type ArtifactStore } from "../../shared/store/index.js";
import type { LiveLogs } from "./live-logs.js";

export interface StoredLog {
  path: string;
  size: number;
  /** Bytes `[start, end)`. */
  read(start: number, end: number): Promise<Readable>;
}

export async function openStoredLog(store: ArtifactStore, path: string): Promise<StoredLog | undefined> {
  assertLogPath(path);
  let size: number | undefined;
  for await (const l of store.listLogs(path)) if (l.path === path) size = l.size;
  if (size === undefined) return undefined;
  return { path, size, read: (start, end) => store.getLog(path, { start, end }) };
}

export interface LogMatch {
  /** Byte offset of the line's first byte. */
  offset: number;
  line: string;
}

const MAX_LINE = 2000;

/**
 * Lines containing `query` (case-insensitive) from `from` on, at most `limit`; `next` is where
 * to continue when the limit was reached.
 */
export async function searchLog(
  log: StoredLog,
  query: string,
  opts: { from: number; limit: number; signal: AbortSignal },
): Promise<{ matches: LogMatch[]; next?: number }> {
  // latin1 maps bytes 1:1 to characters, so string positions are byte offsets.
  const needle = Buffer.from(query, "utf8").toString("latin1").toLowerCase();
  const matches: LogMatch[] = [];
  let base = opts.from;
  let carry: Buffer = Buffer.alloc(0);
  const stream = await log.read(opts.from, log.size);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (opts.signal.aborted) throw new StagefarmError("cancelled", "log search cancelled");
      const buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      const lastNl = buf.lastIndexOf(10);
      const whole = lastNl < 0 ? 0 : lastNl + 1;
      const text = buf.toString("latin1", 0, whole).toLowerCase();
      let at = text.indexOf(needle);
      while (at >= 0) {
        const start = text.lastIndexOf("\n", at) + 1;
        const end = text.indexOf("\n", at);
        const line = buf.subarray(start, Math.min(end, start + MAX_LINE)).toString("utf8");
        matches.push({ offset: base + start, line });
        if (matches.length >= opts.limit) return { matches, next: base + end + 1 };
        at = text.indexOf(needle, end + 1);
      }
      carry = buf.subarray(whole);
      base += whole;
      // A line longer than 1 MiB is searched in pieces.
      if (carry.length > 1 << 20) {
        carry = Buffer.from(carry.subarray(carry.length - needle.length));
        base = base + (buf.length - whole) - carry.length;
      }
    }
    const rest = carry.toString("latin1").toLowerCase();
    if (needle !== "" && rest.includes(needle))
      matches.push({ offset: base, line: carry.subarray(0, MAX_LINE).toString("utf8") });
    return { matches };
  } finally {
    stream.destroy();
  }
}

/** When the lines of an attempt's log were written, and up to which byte offset that is known. */
export interface LogTimesView extends LogTimes {
  indexed: boolean;
  end: number;
}

/**
 * The line times of the log at `path`: its stored index (shared/log-times.ts); while the attempt
 * runs (no stored log yet), when the coordinator received its lines. A stored log without an
 * index (or with a malformed one) has none: `indexed` false.
 */
export async function readLogTimes(
  store: ArtifactStore,
  path: string,
  running: { live: LiveLogs; runId: string; stage: string; attempt: number } | undefined,
): Promise<LogTimesView> {
  const none = (end: number): LogTimesView => ({ offsets: [], unixMs: [], indexed: false, end });
  const log = await openStoredLog(store, path);
  if (log === undefined) {
    const held = running === undefined ? undefined : running.live.get(running.runId, running.stage);
    if (held === undefined || running === undefined || held.attempt !== running.attempt) return none(0);
    return { offsets: [...held.times.offsets], unixMs: [...held.times.unixMs], indexed: true, end: held.end };
  }
  try {
    const stream = await store.getLog(logTimesPath(path));
    const parts: Buffer[] = [];
    let size = 0;
    for await (const c of stream as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_LOG_TIMES_BYTES) {
        stream.destroy();
        return none(log.size);
      }
      parts.push(c);
    }
    return { ...decodeLogTimes(Buffer.concat(parts).toString("utf8")), indexed: true, end: log.size };
  } catch (err: unknown) {
    const code = StagefarmError.from(err).code;
    if (code === "not_found" || code === "invalid_argument") return none(log.size);
    throw err;
  }
}
