/**
 * The live tail of every running stage's log, for the dashboard: agents publish log chunks on
 * the bus as they come (`<prefix>.logs.….<run>.<stage>`, see shared/protocol/subjects.ts); the
 * full log reaches the store only when the attempt ends. Per stage this keeps the newest
 * {@link TAIL_BYTES} and the byte offset of everything seen, so a page opened in the middle of
 * a build starts at the tail and follows it, and a page that reconnects resumes at its offset.
 *
 * An attempt is followed from its `running` event on, so its offsets count from the first
 * byte. Output of a stage that was already running when this process started (a coordinator
 * restart) is kept too, but its offsets count from what this process saw (`partial`).
 */
import type { MessageBus, Subscription } from "../../shared/bus/index.js";
import { LogTimesRecorder } from "../../shared/log-times.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { RunEvent } from "../engine/events.js";

export const TAIL_BYTES = 256 << 10;
const MAX_ENTRIES = 512;
/** Line-time entries held per log before those of bytes no longer held are dropped. */
const MAX_TIME_ENTRIES = 4096;
/** A finished attempt's tail stays this long (its stored log is the source after that). */
const KEEP_FINISHED_MS = 5 * 60_000;

export interface LiveLog {
  readonly runId: string;
  readonly stage: string;
  /** The attempt it belongs to; 0 when this process saw the output but not the attempt start. */
  attempt: number;
  /** True when the output before what is held here was never seen by this process. */
  partial: boolean;
  /** Offset of the first held byte. */
  start: number;
  /** Offset after the last byte seen. */
  end: number;
  /** The attempt ended (its log is in the store). */
  done: boolean;
  doneAt: number;
  chunks: Uint8Array[];
  /** When this process received each line (the stored log's index replaces it once stored). */
  times: LogTimesRecorder;
  listeners: Set<() => void>;
}

export class LiveLogs {
  private readonly logs = new Map<string, LiveLog>();
  private readonly sub: Subscription;
  private readonly off: () => void;

  constructor(bus: MessageBus, subjects: Subjects, onEvent: (l: (e: RunEvent) => void) => () => void) {
    this.sub = bus.subscribe(subjects.logs("*", "*"), (data, subject) => {
      const t = subject.split(".");
      const runId = t[t.length - 2];
      const stage = t[t.length - 1];
      if (runId !== undefined && stage !== undefined) this.append(runId, stage, data);
    });
    this.off = onEvent((e) => {
      if (e.t !== "stage") return;
      const s = e.status;
      if (s.t === "running") this.begin(e.runId, e.stage, s.attempt);
      else if (s.t !== "waiting") this.finish(e.runId, e.stage);
    });
  }

  get(runId: string, stage: string): LiveLog | undefined {
    return this.logs.get(`${runId}/${stage}`);
  }

  /** Calls `fn` on new output or the end of the attempt; returns the unsubscribe. */
  watch(log: LiveLog, fn: () => void): () => void {
    log.listeners.add(fn);
    return () => log.listeners.delete(fn);
  }

  /** Held bytes from `from` on (clamped to what is held), at most `max`. */
  read(log: LiveLog, from: number, max: number): { offset: number; data: Uint8Array } {
    let offset = log.start;
    const parts: Uint8Array[] = [];
    let size = 0;
    const begin = Math.max(from, log.start);
    for (const c of log.chunks) {
      const cEnd = offset + c.length;
      if (cEnd > begin && size < max) {
        const part = c.subarray(Math.max(0, begin - offset), Math.min(c.length, begin - offset + max - size));
        parts.push(part);
        size += part.length;
      }
      offset = cEnd;
    }
    const data = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    return { offset: Math.min(begin, log.end), data };
  }

  close(): void {
    this.sub.unsubscribe();
    this.off();
    for (const l of this.logs.values()) this.notify(l);
    this.logs.clear();
  }

  private begin(runId: string, stage: string, attempt: number): void {
    const key = `${runId}/${stage}`;
    const old = this.logs.get(key);
    if (old !== undefined) {
      old.done = true;
      this.notify(old);
    }
    this.logs.delete(key);
    this.logs.set(key, this.fresh(runId, stage, attempt, false));
    this.evict();
  }

  private fresh(runId: string, stage: string, attempt: number, partial: boolean): LiveLog {
    return {
      runId,
      stage,
      attempt,
      partial,
      start: 0,
      end: 0,
      done: false,
      doneAt: 0,
      chunks: [],
      times: new LogTimesRecorder(),
      listeners: new Set(),
    };
  }

  private append(runId: string, stage: string, data: Uint8Array): void {
    const key = `${runId}/${stage}`;
    let l = this.logs.get(key);
    // Output that trails the end of its attempt by a little still belongs to it.
    if (l === undefined || (l.done && Date.now() - l.doneAt > 10_000)) {
      l = this.fresh(runId, stage, 0, true);
      this.logs.set(key, l);
      this.evict();
    }
    // The bus may reuse its buffer: keep a copy.
    l.chunks.push(data.slice());
    l.times.record(data, Date.now());
    l.end += data.length;
    let held = l.end - l.start;
    while (held > TAIL_BYTES && l.chunks.length > 0) {
      const first = l.chunks[0];
      if (first === undefined) break;
      const drop = held - TAIL_BYTES;
      if (first.length <= drop) {
        l.chunks.shift();
        l.start += first.length;
        held -= first.length;
      } else {
        l.chunks[0] = first.subarray(drop);
        l.start += drop;
        held -= drop;
      }
    }
    if (l.times.offsets.length > MAX_TIME_ENTRIES) l.times.trimBefore(l.start);
    this.notify(l);
  }

  private finish(runId: string, stage: string): void {
    const l = this.logs.get(`${runId}/${stage}`);
    if (l === undefined || l.done) return;
    l.done = true;
    l.doneAt = Date.now();
    this.notify(l);
  }

  private notify(l: LiveLog): void {
    for (const fn of [...l.listeners]) fn();
  }

  /** Drops finished tails after a while, and the oldest entries beyond the limit. */
  private evict(): void {
    const now = Date.now();
    for (const [k, l] of this.logs)
      if (l.done && now - l.doneAt > KEEP_FINISHED_MS && l.listeners.size === 0) this.logs.delete(k);
    for (const [k, l] of this.logs) {
      if (this.logs.size <= MAX_ENTRIES) break;
      l.done = true;
      this.notify(l);
      this.logs.delete(k);
    }
  }
}
