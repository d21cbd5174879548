/**
 * Runs pipelines at the times of their schedules (./schedule-file.ts).
 *
 * - A schedule's next time is computed from "now" when it is put in force (start, reload) and
 *   after each firing, so runs missed while the process was down, asleep or stalled are not
 *   stacked and not caught up: the first time after the gap fires once (like cron, unlike
 *   anacron). A reload that keeps a schedule's name, cron and time zone keeps its next time and
 *   its running runs.
 * - Overlap with a run of the same schedule still going: `skip` (default) drops the firing,
 *   `queue` starts one run when the running one ends (at most one waits), `allow` starts anyway.
 * - The timer sleeps at most {@link MAX_SLEEP_MS} at a time, so a wall-clock jump or a time far
 *   ahead (a yearly schedule beyond setTimeout's range) is re-read from the clock.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { Clock, Timer } from "./clock.js";
import { compileCron, type CronSchedule } from "./cron.js";
import type { ScheduleEntry } from "./schedule-file.js";

export const MAX_SLEEP_MS = 60_000;

export interface LaunchRequest {
  runId: string;
  schedule: string;
  pipeline: string;
  params: Record<string, string>;
}

/** Starts a run; `done` settles when it has ended (rejects when it could not start). */
export type Launch = (req: LaunchRequest) => Promise<{ done: Promise<unknown> }>;

export type FireOutcome = "started" | "skipped" | "queued" | "failed";

export interface SchedulerOptions {
  clock: Clock;
  launch: Launch;
  newRunId: () => string;
  logger: Logger;
  onFire?: (schedule: string, outcome: FireOutcome) => void;
}

interface Slot {
  entry: ScheduleEntry;
  cron: CronSchedule;
  nextAt: number | undefined;
  active: Set<string>;
  queued: boolean;
}

export class Scheduler {
  private slots = new Map<string, Slot>();
  /** Run id → schedule name, while the run is going. */
  private readonly runs = new Map<string, string>();
  private timer: Timer | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly o: SchedulerOptions) {
    this.log = o.logger.child({ component: "scheduler" });
  }

  /** Puts `entries` in force in place of the current ones (see the file comment). */
  apply(entries: readonly ScheduleEntry[]): void {
    if (this.closed) return;
    const now = this.o.clock.now();
    const next = new Map<string, Slot>();
    for (const entry of entries) {
      const old = this.slots.get(entry.name);
      const same =
        old !== undefined && old.entry.cron === entry.cron && old.entry.timezone === entry.timezone;
      const cron = same ? old.cron : compileCron(entry.cron, entry.timezone);
      next.set(entry.name, {
        entry,
        cron,
        nextAt: same ? old.nextAt : cron.next(now),
        active: old?.active ?? new Set(),
        queued: old?.queued ?? false,
      });
    }
    this.slots = next;
    this.arm();
  }

  /** The schedule that started `runId`, while that run is going. */
  scheduleOf(runId: string): string | undefined {
    return this.runs.get(runId);
  }

  /** Next firing per schedule (epoch ms), for logs and tests. */
  nextTimes(): Record<string, number | undefined> {
    return Object.fromEntries([...this.slots].map(([name, s]) => [name, s.nextAt]));
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.closed) return;
    let soonest: number | undefined;
    for (const s of this.slots.values())
      if (s.nextAt !== undefined && (soonest === undefined || s.nextAt < soonest)) soonest = s.nextAt;
    if (soonest === undefined) return;
    const delay = Math.min(Math.max(soonest - this.o.clock.now(), 0), MAX_SLEEP_MS);
    this.timer = this.o.clock.setTimer(() => this.tick(), delay);
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.o.clock.now();
    for (const slot of this.slots.values()) {
      if (slot.nextAt === undefined || now < slot.nextAt) continue;
      slot.nextAt = slot.cron.next(now);
      this.fire(slot);
    }
    this.arm();
  }

  private fire(slot: Slot): void {
    const name = slot.entry.name;
    if (slot.active.size > 0 && slot.entry.overlap !== "allow") {
      const queue = slot.entry.overlap === "queue" && !slot.queued;
      if (queue) slot.queued = true;
      this.log.info(
        { schedule: name, running: [...slot.active], overlap: slot.entry.overlap },
        queue
          ? "schedule due while its last run goes on: queued"
          : "schedule due while its last run goes on: skipped",
      );
      this.o.onFire?.(name, queue ? "queued" : "skipped");
      return;
    }
    this.start(slot);
  }

  private start(slot: Slot): void {
    const { name, pipeline, params } = slot.entry;
    const runId = this.o.newRunId();
    slot.active.add(runId);
    this.runs.set(runId, name);
    const ended = (): void => {
      slot.active.delete(runId);
      this.runs.delete(runId);
      // The slot of the schedule in force now (a reload may have replaced this one).
      const current = this.slots.get(name);
      if (current !== undefined && current.queued && current.active.size === 0 && !this.closed) {
        current.queued = false;
        this.start(current);
      }
    };
    this.log.info({ schedule: name, run: runId, pipeline }, "schedule due: starting a run");
    const failed = (what: string) => (err: unknown) => {
      const e = StagefarmError.from(err);
      this.log.error({ schedule: name, run: runId, err: e }, what);
    };
    this.o
      .launch({ runId, schedule: name, pipeline, params })
      .then(
        ({ done }) => {
          this.o.onFire?.(name, "started");
          return done.catch(failed("scheduled run ended with an error"));
        },
        (err: unknown) => {
          this.o.onFire?.(name, "failed");
          failed("scheduled run could not start")(err);
        },
      )
      .finally(ended);
  }
}
