/**
 * Follows the coordinator's runs for the dashboard and publishes their changes to the event
 * hub: a `stage` event (a `RunEvent` with a `StageRun`) whenever what a page shows of a stage
 * changes, a `run` event (the whole run) when it ends, and `run` summaries (no stages) on the
 * global scope for the runs list, at most once a second per run.
 *
 * Sources: the coordinator's run events (processed in order per run, after the run's document
 * is loaded), and once a second the dispatcher's in-memory snapshot, which tells when a
 * dispatched stage was claimed (the engine emits no event for that) or why it still waits.
 * Dispatch records are read from KV only on such a change and when a stage finishes.
 *
 * Runs being followed are answered from memory; other runs are built from KV and, once
 * finished, kept in a small cache (a retry makes them followed again).
 */
import { create, toJson } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  AttemptOutcome,
  RunEventSchema,
  StageRunSchema,
  type Run,
  type StageRun,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { DispatchRecord } from "../dispatch/dispatch-record.js";
import { stageKey } from "../dispatch/dispatch-record.js";
import type { RunEvent } from "../engine/events.js";
import type { StageStatus } from "../engine/stage-state.js";
import type { Coordinator } from "../service/coordinator.js";
import { stageDocOf, type RunDoc, type StageDoc } from "../service/run-doc.js";
import type { EventHub } from "./event-hub.js";
import type { AttemptRecord } from "../api/attempts.js";
import { DISPATCHED_STATES } from "../api/run-message.js";
import type { ExpectedDurations } from "../stats/expected-durations.js";
import { buildRun, buildStage, shapeOf, summaryOf, type RunShape } from "./run-view.js";

const TICK_MS = 1000;
const FINISHED_CACHE = 50;
/** A finished run stays followed this long, so late page loads get it from memory. */
const LINGER_MS = 30_000;

interface Tracked {
  doc: RunDoc;
  shape: RunShape;
  records: Map<string, DispatchRecord>;
  reasons: Map<string, string>;
  journal: Map<string, Map<number, AttemptRecord>>;
  stages: Map<string, StageRun>;
  sent: Map<string, string>;
  dirty: boolean;
  linger?: NodeJS.Timeout;
}

/** States whose dispatch record tells something: the same set as the API's. */
const DISPATCHED = DISPATCHED_STATES;

export class RunTracker {
  private readonly runs = new Map<string, Tracked>();
  private readonly loading = new Map<string, Promise<Tracked | undefined>>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly finished = new Map<string, Run>();
  private readonly off: () => void;
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly hub: EventHub,
    private readonly log: Logger,
    private readonly onTick: () => void = () => undefined,
    /** Expected stage durations (elapsed / expected, the run's ETA); none without it. */
    private readonly expected?: ExpectedDurations,
  ) {
    this.off = coordinator.onEvent((e, stage) => this.enqueue(e, stage));
    this.timer = setInterval(() => void this.tick(), TICK_MS);
  }

  /** The run with its stages, and the hub position it reflects. */
  async run(id: string): Promise<{ run: Run; seq: number }> {
    const t = this.runs.get(id) ?? (await this.trackIfRunning(id));
    if (t !== undefined) return { run: this.build(t, true), seq: this.hub.current };
    const seq = this.hub.current;
    const cached = this.finished.get(id);
    if (cached !== undefined) return { run: cached, seq };
    const doc = await this.coordinator.getRun(id);
    const run = await this.buildFromKv(doc);
    if (doc.status !== "running") this.remember(id, run);
    return { run, seq };
  }

  /** A run's summary (no stages) for the runs list, from memory where the run is followed. */
  summary(doc: RunDoc): Run {
    const t = this.runs.get(doc.id);
    return t === undefined ? summaryOf(doc) : this.build(t, false);
  }

  /** Forgets a cached finished run (it is being run again). */
  invalidate(id: string): void {
    this.finished.delete(id);
  }

  close(): void {
    this.closed = true;
    this.off();
    clearInterval(this.timer);
    for (const t of this.runs.values()) if (t.linger !== undefined) clearTimeout(t.linger);
  }

  private build(t: Tracked, withStages: boolean): Run {
    const stages = t.shape.names.map((n) => t.stages.get(n) ?? this.stageOf(t, n));
    return buildRun(t.doc, stages, { withStages });
  }

  private stageOf(t: Tracked, name: string): StageRun {
    const s = t.doc.stages[name] ?? { state: "waiting" as const, reason: "waiting" };
    return buildStage(t.doc.id, name, s, t.shape, {
      record: t.records.get(name),
      queuedReason: t.reasons.get(name),
      journal: t.journal.get(name),
      repro: t.doc.repro?.verdicts[name],
    });
  }

  private async shapeWithExpected(doc: RunDoc): Promise<RunShape> {
    const shape = shapeOf(doc);
    if (this.expected !== undefined)
      shape.expected = await this.expected.of(doc.pipeline, shape.names, shape.estimates ?? new Map());
    return shape;
  }

  private async buildFromKv(doc: RunDoc): Promise<Run> {
    const shape = await this.shapeWithExpected(doc);
    const stages: StageRun[] = [];
    for (const name of shape.names) {
      const s = doc.stages[name] ?? { state: "waiting" as const, reason: "waiting" };
      const record = DISPATCHED.has(s.state) ? await this.coordinator.worker.record(doc.id, name) : undefined;
      stages.push(buildStage(doc.id, name, s, shape, { record, repro: doc.repro?.verdicts[name] }));
    }
    return buildRun(doc, stages, { withStages: true });
  }

  private remember(id: string, run: Run): void {
    this.finished.delete(id);
    this.finished.set(id, run);
    for (const k of this.finished.keys()) {
      if (this.finished.size <= FINISHED_CACHE) break;
      this.finished.delete(k);
    }
  }

  private async trackIfRunning(id: string): Promise<Tracked | undefined> {
    const doc = await this.coordinator.getRun(id);
    return doc.status === "running" ? this.track(id) : undefined;
  }

  /** Loads a run to follow it (once; concurrent callers share the load). */
  private track(id: string): Promise<Tracked | undefined> {
    const have = this.runs.get(id);
    if (have !== undefined) return Promise.resolve(have);
    let p = this.loading.get(id);
    if (p === undefined) {
      p = this.load(id).finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  private async load(id: string): Promise<Tracked | undefined> {
    const doc = await this.coordinator.getRun(id);
    const t: Tracked = {
      doc,
      shape: await this.shapeWithExpected(doc),
      records: new Map(),
      reasons: new Map(),
      journal: new Map(),
      stages: new Map(),
      sent: new Map(),
      dirty: true,
    };
    for (const [name, s] of Object.entries(doc.stages)) {
      if (!DISPATCHED.has(s.state)) continue;
      const rec = await this.coordinator.worker.record(id, name);
      if (rec !== undefined) t.records.set(name, rec);
    }
    for (const name of t.shape.names) {
      const m = this.stageOf(t, name);
      t.stages.set(name, m);
      t.sent.set(name, JSON.stringify(toJson(StageRunSchema, m)));
    }
    if (this.closed) return undefined;
    this.runs.set(id, t);
    this.finished.delete(id);
    return t;
  }

  private enqueue(e: RunEvent, stage: StageDoc | undefined): void {
    if (e.t === "log" || this.closed) return;
    const prev = this.chains.get(e.runId) ?? Promise.resolve();
    const next = prev
      .then(() => this.process(e, stage))
      .catch((err: unknown) =>
        this.log.warn({ run: e.runId, err: StagefarmError.from(err) }, "dashboard: run event dropped"),
      )
      .finally(() => {
        if (this.chains.get(e.runId) === next) this.chains.delete(e.runId);
      });
    this.chains.set(e.runId, next);
  }

  private async process(e: Exclude<RunEvent, { t: "log" }>, decided: StageDoc | undefined): Promise<void> {
    let t = this.runs.get(e.runId);
    if (e.t === "run-started" && t !== undefined && t.doc.status !== "running") {
      // Run again (a retry): start over from the stored document.
      if (t.linger !== undefined) clearTimeout(t.linger);
      this.runs.delete(e.runId);
      t = undefined;
    }
    t ??= await this.track(e.runId);
    if (t === undefined) return;
    if (e.t === "stage") await this.onStage(t, e.stage, e.status, decided);
    else if (e.t === "repro") {
      if (t.doc.repro !== undefined) t.doc.repro.verdicts[e.stage] = e.repro;
      if (e.repro.state === "building") {
        // Its dispatch record and why it waits (the second build's, queued for another agent).
        const rec = await this.coordinator.worker.record(t.doc.id, e.stage);
        if (rec !== undefined) t.records.set(e.stage, rec);
        const why = rec === undefined ? undefined : this.coordinator.worker.queuedReason(rec);
        if (why !== undefined) t.reasons.set(e.stage, why);
      }
      this.publishStage(t, e.stage);
    } else if (e.t === "run-finished") this.onFinished(t, e.outcome, e.reproFailure);
    else {
      // Started (or started again by a retry): pages of the run get it whole.
      this.publishRun(t);
      this.publishSummary(t);
    }
  }

  private async onStage(
    t: Tracked,
    name: string,
    status: StageStatus,
    decided: StageDoc | undefined,
  ): Promise<void> {
    // The coordinator decided the stage's document (a stage this run executed before a retry or
    // a restart is a cache hit now and still `done`); the dashboard shows that decision, so it
    // and `run show` cannot disagree. Without it (never from the coordinator), the status alone.
    const doc = decided ?? stageDocOf(status);
    const j = t.journal.get(name) ?? new Map<number, AttemptRecord>();
    t.journal.set(name, j);
    const now = Date.now();
    const end = (n: number, outcome: AttemptOutcome, error?: string): void => {
      const a = j.get(n) ?? { number: n, outcome };
      a.outcome = outcome;
      a.finishedAtMs ??= now;
      if (error !== undefined) a.error = error;
      j.set(n, a);
    };
    if (status.t === "running")
      j.set(status.attempt, {
        number: status.attempt,
        startedAtMs: status.startedAt,
        outcome: AttemptOutcome.RUNNING,
      });
    else if (status.t === "done") end(status.attempt, AttemptOutcome.SUCCEEDED);
    else if (status.t === "failed" && status.attempt > 0)
      end(
        status.attempt,
        status.error.code === "timeout" ? AttemptOutcome.TIMED_OUT : AttemptOutcome.FAILED,
        status.error.message,
      );
    else if (status.t === "ready" && status.retryAt !== undefined)
      end(status.attempt - 1, AttemptOutcome.FAILED);
    else if (status.t === "cancelled")
      for (const a of j.values())
        if (a.outcome === AttemptOutcome.RUNNING) end(a.number, AttemptOutcome.CANCELLED);
    t.reasons.delete(name);
    if (status.t === "running") t.records.delete(name);
    // The same records the API reads (a stage done before a restart included: its agent).
    else if (DISPATCHED.has(doc.state)) {
      const rec = await this.coordinator.worker.record(t.doc.id, name);
      if (rec !== undefined) {
        t.records.set(name, rec);
        const a = j.get(rec.attempt);
        if (a !== undefined && (rec.t === "running" || rec.t === "finished")) a.agent ??= rec.owner;
        // The agent's own execution window (the engine's start includes the wait in the queue).
        if (a !== undefined && rec.t === "finished" && rec.result.ok) {
          a.startedAtMs = rec.finishedAt - rec.result.durationMs;
          a.finishedAtMs = rec.finishedAt;
        }
      }
    }
    t.doc.stages[name] = doc;
    this.publishStage(t, name);
  }

  private onFinished(t: Tracked, outcome: RunDoc["status"], reproFailure?: string): void {
    t.doc.status = outcome;
    if (t.doc.repro !== undefined && reproFailure !== undefined) t.doc.repro.failure = reproFailure;
    t.doc.finishedAt = Date.now();
    const run = this.publishRun(t);
    this.publishSummary(t);
    t.linger = setTimeout(() => {
      if (this.runs.get(t.doc.id) !== t) return;
      this.runs.delete(t.doc.id);
      this.remember(t.doc.id, run);
    }, LINGER_MS);
    t.linger.unref();
  }

  private publishRun(t: Tracked): Run {
    const run = this.build(t, true);
    const event = create(RunEventSchema, {
      runId: t.doc.id,
      at: timestampNow(),
      event: { case: "run", value: run },
    });
    this.hub.publish("run", t.doc.id, "run", toJson(RunEventSchema, event));
    return run;
  }

  private publishStage(t: Tracked, name: string): void {
    const m = this.stageOf(t, name);
    const json = toJson(StageRunSchema, m);
    const text = JSON.stringify(json);
    if (t.sent.get(name) === text) return;
    t.sent.set(name, text);
    t.stages.set(name, m);
    t.dirty = true;
    const event = create(RunEventSchema, {
      runId: t.doc.id,
      at: timestampNow(),
      event: { case: "stage", value: m },
    });
    this.hub.publish("run", t.doc.id, "stage", toJson(RunEventSchema, event));
  }

  private publishSummary(t: Tracked): void {
    t.dirty = false;
    const event = create(RunEventSchema, {
      runId: t.doc.id,
      at: timestampNow(),
      event: { case: "run", value: this.build(t, false) },
    });
    this.hub.publish("global", t.doc.id, "run", toJson(RunEventSchema, event));
  }

  /** Claims and queue reasons from the dispatcher, then the runs list's summaries. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const snap = this.coordinator.worker.snapshot();
      for (const t of this.runs.values()) {
        if (t.doc.status !== "running") continue;
        for (const [name, s] of Object.entries(t.doc.stages)) {
          if (s.state !== "running") continue;
          const key = stageKey(t.doc.id, name);
          const rec = t.records.get(name);
          const claimed = snap.claimed.has(key);
          if ((claimed && rec?.t !== "running") || (snap.queued.has(key) && rec?.t !== "queued")) {
            const fresh = await this.coordinator.worker.record(t.doc.id, name);
            if (fresh === undefined) continue;
            t.records.set(name, fresh);
            const a = t.journal.get(name)?.get(fresh.attempt);
            if (a !== undefined && fresh.t === "running") {
              a.agent = fresh.owner;
              a.startedAtMs = fresh.claimedAt;
            }
          }
          if (snap.queued.has(key))
            t.reasons.set(name, this.coordinator.agents.waitingReason(t.shape.requires.get(name) ?? []));
          else t.reasons.delete(name);
          this.publishStage(t, name);
        }
        if (t.dirty) this.publishSummary(t);
      }
      this.onTick();
    } catch (err: unknown) {
      this.log.warn({ err: StagefarmError.from(err) }, "dashboard: dispatch overlay failed");
    } finally {
      this.ticking = false;
    }
  }
}
