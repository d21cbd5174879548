/**
 * A clock tests drive by hand (coordinator/schedules/clock.ts): `advance` moves time forward and
 * runs the timers that fall due, in order, each at its own time; `jump` moves time without
 * running anything in between (a suspended machine, a stalled event loop).
 */
import type { Clock, Timer } from "../../coordinator/schedules/testing.js";

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private timers: Pending[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(p);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== p)) };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((p) => p !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }

  jump(ms: number): void {
    this.t += ms;
  }
}
