/**
 * When the lines of a stage log were written. The stored log stays the plain bytes the stage
 * wrote (what a raw download returns, what byte offsets and ranges address); beside it,
 * `<log>.times` is its index: entries (byte offset of a line start, unix ms) in offset order,
 * each giving the time of the line starting there and of every line starting after it until the
 * next entry. An agent records an entry for the first line starting in each chunk of output it
 * receives, unless the time is the previous entry's: a line's time is when its first byte
 * reached the agent. A log without an index (stored before indexes existed) has no times.
 *
 * Index file: `stagefarm-log-times 1\n`, then one line per entry: `<offset delta> <ms delta>\n`
 * (the first entry's deltas are from 0 and 0). Text, small, appendable.
 */
import { StagefarmError } from "./errors.js";

const HEADER = "stagefarm-log-times 1\n";
/** An index longer than this is refused (a log with 64 MiB of entries is not one we wrote). */
export const MAX_LOG_TIMES_BYTES = 64 << 20;

export interface LogTimes {
  offsets: number[];
  unixMs: number[];
}

/** The index of the stored log at `logPath`. */
export function logTimesPath(logPath: string): string {
  return `${logPath}.times`;
}

/** Builds the index of a log as its bytes are written, in order. */
export class LogTimesRecorder implements LogTimes {
  readonly offsets: number[] = [];
  readonly unixMs: number[] = [];
  #end = 0;
  #atLineStart = true;

  /** Offset after the last byte recorded. */
  get end(): number {
    return this.#end;
  }

  /** Records `chunk`, the next bytes of the log, written at `now`. */
  record(chunk: Uint8Array, now: number): void {
    if (chunk.length === 0) return;
    const first = this.#atLineStart ? 0 : chunk.indexOf(10) + 1;
    if (first > 0 || this.#atLineStart) {
      if (first < chunk.length && this.unixMs[this.unixMs.length - 1] !== now) {
        this.offsets.push(this.#end + first);
        this.unixMs.push(now);
      }
    }
    this.#atLineStart = chunk[chunk.length - 1] === 10;
    this.#end += chunk.length;
  }

  /** Drops entries wholly before `offset` (the one covering it stays): bounds a held index. */
  trimBefore(offset: number): void {
    let n = 0;
    while (n + 1 < this.offsets.length && (this.offsets[n + 1] ?? Infinity) <= offset) n++;
    if (n > 0) {
      this.offsets.splice(0, n);
      this.unixMs.splice(0, n);
    }
  }
}

export function encodeLogTimes(t: LogTimes): string {
  const parts = [HEADER];
  let off = 0;
  let ms = 0;
  t.offsets.forEach((o, i) => {
    const m = t.unixMs[i] ?? ms;
    parts.push(`${o - off} ${m - ms}\n`);
    off = o;
    ms = m;
  });
  return parts.join("");
}

/** Parses an index; a malformed one is `invalid_argument` (its log then reads without times). */
export function decodeLogTimes(text: string): LogTimes {
  if (!text.startsWith(HEADER))
    throw new StagefarmError("invalid_argument", "not a stagefarm log-times index");
  const t: LogTimes = { offsets: [], unixMs: [] };
  let off = 0;
  let ms = 0;
  for (const line of text.slice(HEADER.length).split("\n")) {
    if (line === "") continue;
    const m = /^(\d{1,15}) (-?\d{1,15})$/.exec(line);
    if (m === null) throw new StagefarmError("invalid_argument", "malformed log-times entry");
    off += Number(m[1]);
    ms += Number(m[2]);
    t.offsets.push(off);
    t.unixMs.push(ms);
  }
  return t;
}

/** The time of the line starting at `offset` (undefined: before the first entry). */
export function timeAt(t: LogTimes, offset: number): number | undefined {
  let lo = 0;
  let hi = t.offsets.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((t.offsets[mid] ?? Infinity) <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? undefined : t.unixMs[found];
}

/** Entries per page of GetLogTimes (a gRPC message stays far below its 4 MiB limit). */
export const LOG_TIMES_PAGE = 65536;

/**
 * The page of `t` (covering the log up to `end`) from the entry covering `from` on, at most
 * `max` entries: its entries, the offset up to which they cover the log, and whether more follow.
 */
export function logTimesPage(
  t: LogTimes,
  end: number,
  from: number,
  max = LOG_TIMES_PAGE,
): LogTimes & { end: number; more: boolean } {
  let first = 0;
  while (first + 1 < t.offsets.length && (t.offsets[first + 1] ?? Infinity) <= from) first++;
  const stop = Math.min(t.offsets.length, first + max);
  const more = stop < t.offsets.length;
  return {
    offsets: t.offsets.slice(first, stop),
    unixMs: t.unixMs.slice(first, stop),
    end: more ? (t.offsets[stop] ?? end) : end,
    more,
  };
}

/**
 * Prefixes every line of a log read in order with its time (`stamp(offset)`), for
 * `stagefarm logs --timestamps`. Feed it the chunks with their offsets; it keeps whether the
 * next byte starts a line.
 */
export class LineStamper {
  #atLineStart: boolean;

  /** `startsLine`: the first chunk fed starts a line (reading from offset 0, or after a newline). */
  constructor(
    private readonly stamp: (offset: number) => string,
    startsLine = true,
  ) {
    this.#atLineStart = startsLine;
  }

  push(data: Uint8Array, offset: number): Buffer {
    const parts: Buffer[] = [];
    let from = 0;
    while (from < data.length) {
      if (this.#atLineStart) parts.push(Buffer.from(this.stamp(offset + from)));
      const nl = data.indexOf(10, from);
      const to = nl < 0 ? data.length : nl + 1;
      parts.push(Buffer.from(data.buffer, data.byteOffset + from, to - from));
      this.#atLineStart = nl >= 0;
      from = to;
    }
    return Buffer.concat(parts);
  }
}
