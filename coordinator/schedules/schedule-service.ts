/**
 * Schedules and notifications of a serving process (`stagefarm coordinator` and `stagefarm up`
 * with `--schedules FILE`): loads the file (a bad file fails the start), reloads it on
 * {@link ScheduleService.reload} (SIGHUP) and when it changes on disk; a bad file on reload is
 * refused with FILE:line:col and the schedules in force stay. Watches run ends and notifies.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { Counter, type Registry } from "prom-client";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { RunEvent } from "../engine/events.js";
import type { RunDoc } from "../service/run-doc.js";
import { systemClock, type Clock, type Timer } from "./clock.js";
import { Notifier, type NotifierOptions } from "./notifier.js";
import { runSummary } from "./run-summary.js";
import { loadScheduleFile, type ScheduleFile } from "./schedule-file.js";
import { Scheduler, type Launch } from "./scheduler.js";

/** What the service needs of the coordinator: run events and run documents. */
export interface RunSource {
  onEvent(listener: (e: RunEvent) => void): () => void;
  getRun(id: string): Promise<RunDoc>;
}

export interface ScheduleServiceOptions {
  file: string;
  runs: RunSource;
  launch: Launch;
  /** Checks that a schedule's pipeline exists (the server's --pipelines DIR). */
  checkPipeline: (name: string) => Promise<unknown>;
  newRunId: () => string;
  logger: Logger;
  registry: Registry;
  /** Base URL of the dashboard links when the file gives no dashboard_url. */
  dashboardUrl?: string;
  clock?: Clock;
  /** Re-read the file when it changes (default true). */
  watchFile?: boolean;
  notifier?: Omit<NotifierOptions, "logger" | "onResult">;
}

const WATCH_SETTLE_MS = 250;

export class ScheduleService implements AsyncDisposable {
  private config: ScheduleFile;
  private readonly scheduler: Scheduler;
  private readonly notifier: Notifier;
  private readonly off: () => void;
  private readonly log: Logger;
  private readonly reloads: Counter<"result">;
  private watcher: FSWatcher | undefined;
  private settle: Timer | undefined;
  private chain: Promise<boolean> = Promise.resolve(true);
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly o: ScheduleServiceOptions,
    first: ScheduleFile,
  ) {
    this.config = first;
    this.log = o.logger.child({ component: "schedules" });
    const fires = new Counter({
      name: "stagefarm_schedule_fires_total",
      help: "Schedule firings by outcome (started, skipped or queued for overlap, failed to start)",
      labelNames: ["outcome"],
      registers: [o.registry],
    });
    const notifications = new Counter({
      name: "stagefarm_notifications_total",
      help: "Run-end notifications by target (webhook, command) and result (sent, failed)",
      labelNames: ["target", "result"],
      registers: [o.registry],
    });
    this.reloads = new Counter({
      name: "stagefarm_schedule_reloads_total",
      help: "Reloads of the schedule file by result (applied, refused)",
      labelNames: ["result"],
      registers: [o.registry],
    });
    this.scheduler = new Scheduler({
      clock: o.clock ?? systemClock,
      launch: o.launch,
      newRunId: o.newRunId,
      logger: o.logger,
      onFire: (_schedule, outcome) => fires.inc({ outcome }),
    });
    this.notifier = new Notifier({
      ...o.notifier,
      logger: o.logger,
      onResult: (target, result) => notifications.inc({ target, result }),
    });
    this.off = o.runs.onEvent((e) => {
      if (e.t === "run-finished") this.onRunFinished(e.runId);
    });
  }

  /** Loads `file` (refused: the error, and nothing starts) and puts its schedules in force. */
  static async open(o: ScheduleServiceOptions): Promise<ScheduleService> {
    const first = await ScheduleService.read(o);
    const s = new ScheduleService(o, first);
    s.scheduler.apply(first.schedules);
    s.log.info(
      { file: o.file, schedules: first.schedules.length, next: s.nextTimes() },
      "schedules in force",
    );
    if (o.watchFile ?? true) s.watch();
    return s;
  }

  private static async read(o: ScheduleServiceOptions): Promise<ScheduleFile> {
    const cfg = await loadScheduleFile(o.file);
    for (const s of cfg.schedules) {
      try {
        await o.checkPipeline(s.pipeline);
      } catch (err: unknown) {
        throw new StagefarmError(
          "invalid_argument",
          `${o.file}: schedule ${s.name}: ${StagefarmError.from(err).message}`,
          { cause: err },
        );
      }
    }
    return cfg;
  }

  /** Re-reads the file; resolves false (logged, counted) when it was refused. One at a time. */
  reload(): Promise<boolean> {
    const once = async (): Promise<boolean> => {
      if (this.closing !== undefined) return false;
      try {
        const cfg = await ScheduleService.read(this.o);
        this.config = cfg;
        this.scheduler.apply(cfg.schedules);
        this.reloads.inc({ result: "applied" });
        this.log.info(
          { file: this.o.file, schedules: cfg.schedules.length, next: this.nextTimes() },
          "schedule file reloaded",
        );
        return true;
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        this.reloads.inc({ result: "refused" });
        this.log.error(
          { file: this.o.file, err: e },
          "schedule file refused; the previous schedules stay in force",
        );
        return false;
      }
    };
    this.chain = this.chain.then(once, once);
    return this.chain;
  }

  /** Next firing per schedule, as ISO times. */
  nextTimes(): Record<string, string | null> {
    return Object.fromEntries(
      Object.entries(this.scheduler.nextTimes()).map(([k, v]) => [
        k,
        v === undefined ? null : new Date(v).toISOString(),
      ]),
    );
  }

  /** Resolves when every notification sent so far has finished. */
  notificationsIdle(): Promise<void> {
    return this.notifier.idle();
  }

  private onRunFinished(runId: string): void {
    const schedule = this.scheduler.scheduleOf(runId);
    const cfg = this.config;
    const entry = schedule === undefined ? undefined : cfg.schedules.find((s) => s.name === schedule);
    const global = schedule !== undefined || cfg.notify === "all";
    const targets = [
      ...(global ? [{ webhook: cfg.webhook, command: cfg.command }] : []),
      ...(entry === undefined ? [] : [{ webhook: entry.webhook, command: entry.command }]),
    ].filter((t) => t.webhook !== undefined || t.command !== undefined);
    if (targets.length === 0) return;
    // Called now, so an active run's document is read before the coordinator forgets the run.
    const doc = this.o.runs.getRun(runId);
    doc.then(
      (d) => {
        const summary = runSummary(d, schedule, cfg.dashboard_url ?? this.o.dashboardUrl);
        for (const t of targets) this.notifier.send(summary, t);
      },
      (err: unknown) =>
        this.log.error(
          { run: runId, err: StagefarmError.from(err) },
          "run-end notification: run not readable",
        ),
    );
  }

  private watch(): void {
    const name = basename(this.o.file);
    try {
      // The directory, not the file: editors and config managers replace the file by a rename.
      this.watcher = watch(dirname(this.o.file), (_event, changed) => {
        if (changed !== null && changed !== name) return;
        this.settle?.cancel();
        this.settle = (this.o.clock ?? systemClock).setTimer(() => void this.reload(), WATCH_SETTLE_MS);
      });
      this.watcher.on("error", (err: unknown) =>
        this.log.warn(
          { err: StagefarmError.from(err) },
          "watching the schedule file stopped; SIGHUP reloads it",
        ),
      );
      this.watcher.unref();
    } catch (err: unknown) {
      this.log.warn({ err: StagefarmError.from(err) }, "cannot watch the schedule file; SIGHUP reloads it");
    }
  }

  /** No more firings (a draining server); notifications of runs still going are sent. */
  stopScheduling(): void {
    this.scheduler.close();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.watcher?.close();
      this.settle?.cancel();
      this.scheduler.close();
      this.off();
      await this.chain;
      await this.notifier.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
