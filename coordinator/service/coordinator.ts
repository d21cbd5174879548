/**
 * The distributed coordinator: the run engine with a DispatchWorker, fed by NATS (claims,
 * heartbeats, durable agent events) and keeping every run in KV so a restart resumes it.
 *
 * Start order: claims and heartbeats are served first, then runs found `running` in KV are
 * resumed (their stages attach to the dispatch records in KV), then agent events are consumed.
 * Shutdown abandons runs without cancelling them: they stay `running` in KV for the next start.
 *
 * Every claim, heartbeat, event and binhost request is bound to the agent id of its subject
 * (../dispatch/message-guard.ts): one naming another agent is rejected and counted.
 *
 * NATS outages (a KV or stream leader election, a restarting server) delay, never fail: the
 * engine's KV reads and writes (dispatch records, run documents) and job publishes are tried
 * again through one outage clock (`natsOutage`, shared/nats/outage-kv.ts) until NATS answers or
 * the budget is spent. Reads for callers of the API are not held: they are told at once.
 */
import { setMaxListeners } from "node:events";
import type { MessageBus, Subscription } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { errorFields, type Logger } from "../../shared/log.js";
import { resolvePipeline, type PipelineSpec } from "../../shared/pipeline/index.js";
import { Notifier, type EventLog, type JobQueue, type KvStore } from "../../shared/ports/index.js";
import {
  agentEventSchema,
  claimRequestSchema,
  decodeMessage,
  encodeMessage,
  heartbeatSchema,
} from "../../shared/protocol/messages.js";
import { subjects as subjectsOf, type Subjects } from "../../shared/protocol/subjects.js";
import { type ArtifactStore, StoreOutage } from "../../shared/store/index.js";
import { isNatsOutageFailure, OutageTolerantKv } from "../../shared/nats/index.js";
import { bindReleaseInputs, resolveReleaseInputs } from "../../shared/release/index.js";
import { AgentRegistry } from "../dispatch/agent-registry.js";
import { DispatchWorker } from "../dispatch/dispatch-worker.js";
import { stageKey } from "../dispatch/dispatch-record.js";
import { KeyedLanes } from "../dispatch/keyed-lanes.js";
import { MessageGuard } from "../dispatch/message-guard.js";
import { checkArtifactInputs } from "../engine/artifact-inputs.js";
import { startRun, type RunHandle, type StoreGate } from "../engine/run-engine.js";
import type { RunEvent } from "../engine/events.js";
import type { BinhostService } from "../binhost/binhost-service.js";
import { serveBinhostRequests } from "../binhost/bus-handlers.js";
import type { CoordinatorMetrics } from "../metrics.js";
import { newRunId } from "../run-id.js";
import { SubmissionParser, type SubmissionLimits } from "../submission/parse-submission.js";
import { pipelineLabel } from "../submission/pipeline-label.js";
import { quoted } from "../../shared/util/excerpt.js";
import { reproRequest, type ReproSubmission } from "../repro/repro-request.js";
import { nextStageDoc, runDocSchema, runKey, type RunDoc, type StageDoc } from "./run-doc.js";

/** The longest wait between two writes of a running run's document (see writeDoc). */
const MAX_SAVE_COOLDOWN_MS = 2000;

export interface CoordinatorOptions {
  kv: KvStore;
  queue: JobQueue;
  events: EventLog;
  bus: MessageBus;
  store: ArtifactStore;
  /** Holds new work while the store is unavailable (shared/store/store-outage.ts). */
  storeGate?: StoreGate;
  subjects: Subjects;
  logger: Logger;
  metrics?: CoordinatorMetrics;
  leaseMs: number;
  leaseCheckMs: number;
  agentOfflineMs: number;
  /** Stages of one run that may be dispatched at once (agents' slots are the real limit). */
  maxDispatchPerRun: number;
  /** Build jobs granted to a stage (MAKEOPTS) — agents may lower it to their slots. */
  stageJobs: number;
  /** The binhosts' single writer: answers agents' publish requests (absent: not served). */
  binhost?: BinhostService;
  /** Bounds of parsing a submitted pipeline (../submission/parse-submission.ts). */
  submissionLimits?: Partial<SubmissionLimits>;
  /** How long a NATS outage may delay the engine's KV writes and publishes (default 10 min). */
  natsOutageBudgetMs?: number;
  /**
   * The second build of a `--repro` stage may run on the agent of the first (embedded: one
   * agent, another workspace). Default false: it waits for another agent.
   */
  reproOnSameAgent?: boolean;
  /** Wait before attempt N+1 of a failed stage (default: the engine's, 10 s doubling). */
  retryBackoffMs?: (failedAttempt: number) => number;
  /**
   * Least time between two writes of one run's document to KV (default
   * {@link DEFAULT_RUN_DOC_WRITE_MS}); a run's last state is written at once.
   */
  runDocWriteMs?: number;
}

/** Default of {@link CoordinatorOptions.natsOutageBudgetMs}: the store's default budget. */
export const DEFAULT_NATS_OUTAGE_BUDGET_MS = 10 * 60_000;

/**
 * Default of {@link CoordinatorOptions.runDocWriteMs}. A run's document holds every stage, so
 * writing it per stage event costs O(stages) per event: the dispatch bench spent most of the
 * coordinator's CPU encoding it (docs/benchmarks.md). Stage records in KV stay the source of
 * truth of dispatch; a restart resumes from a document at most this much older.
 */
export const DEFAULT_RUN_DOC_WRITE_MS = 100;

/** Agent events applied at once (of different stages; one stage's apply in order). */
const EVENT_LANES = 64;

/** A run event, and for a stage event the stage's document as the coordinator decided it. */
export type RunDocListener = (e: RunEvent, stage: StageDoc | undefined) => void;

interface ActiveRun {
  doc: RunDoc;
  abort: AbortController;
  done: Promise<void>;
  engine: RunHandle;
}

export class Coordinator implements AsyncDisposable {
  readonly agents: AgentRegistry;
  readonly worker: DispatchWorker;
  private readonly guard: MessageGuard;
  private readonly log: Logger;
  private readonly active = new Map<string, ActiveRun>();
  private readonly subs: Subscription[] = [];
  private readonly stop = new AbortController();
  private readonly listeners = new Set<RunDocListener>();
  private loops: Promise<void>[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Per run, the chain of KV writes of its doc (serialised, latest state wins). */
  private readonly writes = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  /** Per run, when its document's last write ended and what it cost (ms): the next waits after it. */
  private readonly lastWrite = new Map<string, { at: number; ms: number }>();
  /** Runs whose document is written without waiting (finished). */
  private readonly flushing = new Set<string>();
  /** Wakes document writers waiting out `runDocWriteMs` (a run finished, or closing). */
  private readonly flush = new Notifier();
  private readonly parser: SubmissionParser;
  /** Whether NATS answers: the engine's KV calls and publishes wait through its outages. */
  readonly natsOutage: StoreOutage;
  /** The KV of the engine's own state: rides out NATS outages within the budget. */
  private readonly kv: OutageTolerantKv;

  constructor(private readonly o: CoordinatorOptions) {
    this.log = o.logger.child({ component: "coordinator" });
    this.natsOutage = new StoreOutage({
      name: "NATS",
      isFailure: isNatsOutageFailure,
      budgetMs: o.natsOutageBudgetMs ?? DEFAULT_NATS_OUTAGE_BUDGET_MS,
      logger: o.logger.child({ component: "nats" }),
    });
    this.kv = new OutageTolerantKv(o.kv, this.natsOutage);
    this.parser = new SubmissionParser(o.submissionLimits);
    this.agents = new AgentRegistry(o.agentOfflineMs);
    this.guard = new MessageGuard(o.subjects, o.logger, o.metrics);
    this.worker = new DispatchWorker({
      kv: this.kv,
      outage: this.natsOutage,
      queue: o.queue,
      bus: o.bus,
      subjects: o.subjects,
      agents: this.agents,
      logger: o.logger,
      leaseMs: o.leaseMs,
      ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
    });
  }

  async start(): Promise<void> {
    const { bus, subjects } = this.o;
    this.subs.push(
      bus.serve(subjects.claims, async (data, subject) => {
        const req = decodeMessage(claimRequestSchema, data);
        if (!req.ok) {
          this.guard.malformed("claim", subject, req.reason);
          return encodeMessage({ ok: false, reason: `malformed claim: ${req.reason}` });
        }
        if (!this.guard.bind("claim", subject, req.value.agentId))
          return encodeMessage({
            ok: false,
            reason: `a claim on ${subject} may not name ${req.value.agentId}`,
          });
        return encodeMessage(await this.worker.handleClaim(req.value));
      }),
      bus.subscribe(subjects.heartbeats, (data, subject) => {
        const hb = decodeMessage(heartbeatSchema, data);
        if (!hb.ok) this.guard.malformed("heartbeat", subject, hb.reason);
        else if (this.guard.bind("heartbeat", subject, hb.value.agentId))
          this.worker.handleHeartbeat(hb.value);
      }),
    );
    if (this.o.binhost !== undefined) {
      // Agents' requests, bound to the sender; and the unbound subjects, for processes without an
      // agent identity (the shipped NATS permissions grant those to no agent).
      const bound = {
        ...subjects,
        binhostPublish: subjects.binhostPublishAll,
        binhostConf: subjects.binhostConfAll,
      };
      this.subs.push(
        ...serveBinhostRequests(this.guard.binhostBus(bus), bound, this.o.binhost, this.log),
        ...serveBinhostRequests(bus, subjectsOf(subjects.prefix), this.o.binhost, this.log),
      );
    }
    this.leaseTimer = setInterval(() => {
      this.worker
        .checkLeases()
        .catch((err: unknown) => this.log.error({ err: StagefarmError.from(err) }, "lease check failed"));
    }, this.o.leaseCheckMs);
    await this.resumeRuns();
    this.loops.push(this.consumeEvents());
  }

  /**
   * Subscribes to run events of every run (API watchers, the dashboard). A stage event comes with
   * the stage's document as this coordinator decided it (./run-doc.ts `nextStageDoc`): the one
   * decision every transport shows, never recomputed by a listener.
   */
  onEvent(listener: RunDocListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Parses a pipeline a client submitted, off the event loop and within bounds
   * (../submission/parse-submission.ts); `path` is only a label (made harmless here).
   */
  parseSubmission(yaml: string, path: string): Promise<PipelineSpec> {
    if (this.closing !== undefined)
      return Promise.reject(new StagefarmError("unavailable", "coordinator is shutting down"));
    return this.parser.parse(yaml, pipelineLabel(path));
  }

  /**
   * Starts a run of a submitted pipeline's text. `spec` is the text already parsed by
   * {@link parseSubmission} (or, for `stagefarm run`, from the user's own file); without it the
   * text is parsed by parseSubmission.
   */
  async submit(req: {
    yaml: string;
    path: string;
    params: Record<string, string>;
    runId?: string;
    spec?: PipelineSpec;
    /** `--repro`: stages to build twice and compare; with `strict`, one that differs fails the run. */
    repro?: ReproSubmission;
  }): Promise<RunDoc> {
    if (this.closing !== undefined) throw new StagefarmError("unavailable", "coordinator is shutting down");
    const spec = req.spec ?? (await this.parseSubmission(req.yaml, req.path));
    // `release:` inputs resolve now, to the digests their pointers name (shared/release/seeds.ts).
    const seeds = await resolveReleaseInputs(spec, this.o.store);
    const repro = reproRequest(spec, req.repro);
    // Validates params (and that imported artifacts exist) before anything is stored.
    await checkArtifactInputs(resolvePipeline(bindReleaseInputs(spec, seeds), req.params), this.o.store);
    const doc: RunDoc = {
      v: 1,
      id: req.runId ?? newRunId(),
      pipeline: spec.name,
      path: req.spec === undefined ? pipelineLabel(req.path) : req.path,
      yaml: req.yaml,
      params: req.params,
      ...(seeds.length === 0 ? {} : { releaseInputs: seeds }),
      status: "running",
      createdAt: Date.now(),
      stages: Object.fromEntries(
        spec.stages.map((s) => [s.name, { state: "waiting" as const, reason: "waiting" }]),
      ),
      ...(repro === undefined ? {} : { repro }),
    };
    await this.kv.put(runKey(doc.id), encodeMessage(doc));
    this.launch(doc, spec);
    return doc;
  }

  async getRun(id: string): Promise<RunDoc> {
    const a = this.active.get(id);
    if (a !== undefined) return structuredClone(a.doc);
    // An id no run can have (a caller's garbage) is not found, not a malformed KV key.
    const e = /^[A-Za-z0-9_-]{1,128}$/.test(id) ? await this.o.kv.get(runKey(id)) : undefined;
    if (e === undefined) throw new StagefarmError("not_found", `no run ${quoted(id)}`);
    const d = decodeMessage(runDocSchema, e.value);
    if (!d.ok) throw new StagefarmError("internal", `run ${id} record is unreadable: ${d.reason}`);
    return d.value;
  }

  async listRuns(): Promise<RunDoc[]> {
    const docs: RunDoc[] = [];
    for (const key of await this.o.kv.keys("runs")) {
      const id = key.slice("runs.".length);
      try {
        docs.push(await this.getRun(id));
      } catch (err: unknown) {
        this.log.warn({ run: id, err: StagefarmError.from(err) }, "skipping unreadable run");
      }
    }
    return docs.sort((a, b) => b.createdAt - a.createdAt);
  }

  async cancel(id: string): Promise<RunDoc> {
    const a = this.active.get(id);
    if (a === undefined) return this.getRun(id);
    a.abort.abort(new StagefarmError("cancelled", `run ${id} cancelled`));
    await a.done;
    return this.getRun(id);
  }

  /**
   * Runs a failed stage again, and the stages it blocked. In a run still going on, the engine
   * sends the stage back to `waiting` while the other branches go on; a finished run runs again
   * from where it failed (done stages come from the cache).
   */
  async retry(id: string, stage: string): Promise<RunDoc> {
    if (this.closing !== undefined) throw new StagefarmError("unavailable", "coordinator is shutting down");
    const a = this.active.get(id);
    if (a !== undefined) {
      if (a.doc.stages[stage] === undefined)
        throw new StagefarmError("not_found", `run ${id} has no stage ${quoted(stage)}`);
      if (a.engine.retryStage(stage)) return structuredClone(a.doc);
      // The run was ending as the retry came: retry it as the finished run it is now.
      await a.done;
    }
    const doc = await this.getRun(id);
    const s = doc.stages[stage];
    if (s === undefined) throw new StagefarmError("not_found", `run ${id} has no stage ${quoted(stage)}`);
    if (s.state !== "failed" && s.state !== "skipped" && s.state !== "cancelled")
      throw new StagefarmError(
        "invalid_argument",
        `stage ${stage} of run ${id} is ${s.state}; only failed, skipped or cancelled stages are retried`,
      );
    // Stored text parses like a submission: off the event loop, within the same bounds.
    const spec = await this.parser.parse(doc.yaml, doc.path);
    const next: RunDoc = { ...doc, status: "running" };
    delete next.finishedAt;
    await this.kv.put(runKey(id), encodeMessage(next));
    // Stages run as their next attempt: a failed or cancelled one keeps its record and its log.
    const prior = new Map(
      Object.entries(doc.stages).map(([name, st]) => [
        name,
        Math.max(st.attempt ?? 0, ...(st.attempts ?? []).map((a) => a.n)),
      ]),
    );
    this.launch(next, spec, { priorAttempts: (name) => prior.get(name) ?? 0 });
    return next;
  }

  drain(agentId: string): boolean {
    const known = this.agents.requestDrain(agentId);
    if (known) this.o.bus.publish(this.o.subjects.control(agentId), encodeMessage({ t: "drain" }));
    return known;
  }

  /** Gives a drained agent work again (one drained by {@link drain}; not one shutting down). */
  undrain(agentId: string): boolean {
    const known = this.agents.requestUndrain(agentId);
    if (known) this.o.bus.publish(this.o.subjects.control(agentId), encodeMessage({ t: "undrain" }));
    return known;
  }

  /** The runs executing now (submitted, resumed or retried). */
  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  /** Resolves when the run is no longer active (test and CLI helper). */
  async settled(id: string): Promise<void> {
    await this.active.get(id)?.done;
  }

  private async resumeRuns(): Promise<void> {
    for (const doc of await this.listRuns()) {
      if (doc.status !== "running" || this.active.has(doc.id)) continue;
      try {
        const spec = await this.parser.parse(doc.yaml, doc.path);
        this.log.info({ run: doc.id, pipeline: doc.pipeline }, "resuming run after restart");
        // Attempt numbers go on where they were: a stage running (or due) as attempt N resumes as
        // N, so it attaches to its dispatch record instead of starting over as attempt 1.
        const prior = new Map(
          Object.entries(doc.stages).map(([name, st]) => [
            name,
            st.state === "running" || st.state === "ready"
              ? Math.max(0, (st.attempt ?? 1) - 1)
              : Math.max(st.attempt ?? 0, ...(st.attempts ?? []).map((a) => a.n)),
          ]),
        );
        // Stages the document has not seen finish but that have a dispatch record attach to it,
        // at the record's attempt (the document is written behind the records); those it saw
        // finish are found again. Repro stages resume by their verdict's state, as before.
        const prefix = stageKey(doc.id, "");
        const unfinished = new Set(["waiting", "ready", "running"]);
        const repro = new Set(doc.repro?.stages ?? []);
        const dispatched = new Set<string>();
        for (const key of await this.kv.keys(prefix.slice(0, -1))) {
          const name = key.slice(prefix.length);
          if (repro.has(name) || !unfinished.has(doc.stages[name]?.state ?? "waiting")) continue;
          const rec = await this.worker.record(doc.id, name);
          if (rec === undefined || rec.t === "cancelled") continue;
          dispatched.add(name);
          prior.set(name, Math.max(prior.get(name) ?? 0, rec.attempt - 1));
        }
        this.launch(doc, spec, { priorAttempts: (name) => prior.get(name) ?? 0, dispatched });
      } catch (err: unknown) {
        this.log.error({ run: doc.id, err: StagefarmError.from(err) }, "cannot resume run");
      }
    }
  }

  private launch(
    doc: RunDoc,
    parsed: PipelineSpec,
    resumed?: { priorAttempts: (stage: string) => number; dispatched?: ReadonlySet<string> },
  ): void {
    // A run keeps the release digests it was submitted with, across restarts and retries.
    const spec = bindReleaseInputs(parsed, doc.releaseInputs ?? []);
    const abort = new AbortController();
    // Every stage in flight listens on the run's signal: thousands in a large run are expected.
    setMaxListeners(0, abort.signal);
    const stages = resolvePipeline(spec, doc.params);
    const estimates = new Map(stages.map((s) => [s.name, s.estimateMs ?? 60_000]));
    // Stages this run executed before a restart (or before a retry) are found in the cache
    // when it runs again: they stay `done` (with their agent), not `cached`.
    const executed = new Map(
      Object.entries(doc.stages).filter((e): e is [string, StageDoc] => e[1].state === "done"),
    );
    this.o.metrics?.runsActive.inc();
    const engine = startRun(
      {
        store: this.o.store,
        ...(this.o.storeGate === undefined ? {} : { storeGate: this.o.storeGate }),
        worker: this.worker,
        logger: this.o.logger.child({ component: "engine" }),
        ...(this.o.metrics === undefined ? {} : { metrics: this.o.metrics }),
        producer: "coordinator",
      },
      {
        runId: doc.id,
        pipeline: spec.name,
        stages,
        slots: Math.max(this.o.maxDispatchPerRun, 1),
        stageJobs: this.o.stageJobs,
        signal: abort.signal,
        estimateMs: (n) => estimates.get(n) ?? 60_000,
        ...(resumed === undefined ? {} : resumed),
        ...(doc.repro === undefined
          ? {}
          : {
              repro: {
                stages: new Set(doc.repro.stages),
                strict: doc.repro.strict,
                otherAgent: this.o.reproOnSameAgent !== true,
                recorded: new Map(Object.entries(doc.repro.verdicts)),
              },
            }),
        ...(this.o.retryBackoffMs === undefined ? {} : { retryBackoffMs: this.o.retryBackoffMs }),
        onEvent: (e) => this.onRunEvent(doc, e, executed),
      },
    );
    const done = engine.result
      .then((r) => {
        if (this.closing === undefined)
          this.o.metrics?.runsTotal.inc({ pipeline: spec.name, outcome: r.outcome });
      })
      .catch((err: unknown) =>
        this.log.error({ run: doc.id, err: StagefarmError.from(err) }, "run engine failed"),
      )
      // The run stays active (served from memory) until its last state is in KV.
      .then(() => this.writes.get(doc.id))
      .finally(() => {
        this.o.metrics?.runsActive.dec();
        this.active.delete(doc.id);
        this.lastWrite.delete(doc.id);
        this.flushing.delete(doc.id);
      });
    this.active.set(doc.id, { doc, abort, done, engine });
  }

  private onRunEvent(doc: RunDoc, e: RunEvent, executed: ReadonlyMap<string, StageDoc>): void {
    if (this.closing !== undefined) return; // abandoned, not cancelled: KV keeps the run running
    if (e.t === "stage") {
      doc.stages[e.stage] = nextStageDoc(doc.stages[e.stage], e.status, executed.get(e.stage));
    } else if (e.t === "repro" && doc.repro !== undefined) {
      doc.repro.verdicts[e.stage] = e.repro;
    } else if (e.t === "run-finished") {
      doc.status = e.outcome;
      doc.finishedAt = Date.now();
      if (doc.repro !== undefined && e.reproFailure !== undefined) doc.repro.failure = e.reproFailure;
    }
    const decided = e.t === "stage" ? doc.stages[e.stage] : undefined;
    const stage = decided === undefined || this.listeners.size === 0 ? undefined : structuredClone(decided);
    for (const l of this.listeners) l(e, stage);
    if (e.t === "log") return;
    this.save(doc, e.t === "run-finished");
  }

  /**
   * Writes the run's document to KV behind the run (write-behind): a change marks the run dirty,
   * and its writer writes the latest state at most every `runDocWriteMs` (a run of thousands of
   * stages would otherwise encode and write its whole document for every stage event); `now`
   * (the run finished) writes at once. A NATS outage delays the write within the outage budget;
   * a failure past it is logged and the next change writes again. Closing writes what is
   * pending with one request, not retried through an outage.
   */
  private save(doc: RunDoc, now = false): void {
    this.dirty.add(doc.id);
    if (now) {
      this.flushing.add(doc.id);
      this.flush.notify();
    }
    if (this.writes.has(doc.id)) return;
    const p = this.writeDoc(doc).finally(() => {
      if (this.writes.get(doc.id) === p) this.writes.delete(doc.id);
    });
    this.writes.set(doc.id, p);
  }

  private async writeDoc(doc: RunDoc): Promise<void> {
    const everyMs = this.o.runDocWriteMs ?? DEFAULT_RUN_DOC_WRITE_MS;
    const stop = this.stop.signal;
    while (this.dirty.has(doc.id)) {
      // At least `runDocWriteMs` apart, and ten times what the last write took (at most 2 s): a
      // document of thousands of stages costs milliseconds to encode, so writing it back to back
      // made tracking a run quadratic in its stages (issue 21).
      const last = this.lastWrite.get(doc.id);
      const due =
        last === undefined ? 0 : last.at + Math.max(everyMs, Math.min(MAX_SAVE_COOLDOWN_MS, 10 * last.ms));
      while (!this.flushing.has(doc.id) && !stop.aborted && Date.now() < due)
        await this.flush.wait(stop, due - Date.now());
      this.dirty.delete(doc.id);
      const started = Date.now();
      const put = (): Promise<number> => this.o.kv.put(runKey(doc.id), encodeMessage(doc));
      try {
        // Through a NATS outage within its budget; closing tries once (the run stays `running`
        // in KV for the next start either way).
        await (stop.aborted ? put() : this.natsOutage.run(`saving run ${doc.id}`, put, stop));
      } catch (err: unknown) {
        this.log.error({ run: doc.id, err: StagefarmError.from(err) }, "saving run state failed");
      }
      this.lastWrite.set(doc.id, { at: Date.now(), ms: Date.now() - started });
    }
  }

  /**
   * Applies agent events as they come: each stage's in order, different stages' at once (up to
   * {@link EVENT_LANES}), each acked once applied (unacked: delivered again, and applying is
   * idempotent).
   */
  private async consumeEvents(): Promise<void> {
    const signal = this.stop.signal;
    const lanes = new KeyedLanes(EVENT_LANES, (err, key) =>
      this.log.warn(
        { ...errorFields(err), stage: key },
        "applying an agent event failed; it is delivered again",
      ),
    );
    while (!signal.aborted) {
      try {
        for await (const ev of this.o.events.consume("coordinator", { signal })) {
          // The event log's subject of an agent's events is its id (`<prefix>.events.<agent>` on NATS).
          const subject = this.o.subjects.events(ev.subject);
          const d = decodeMessage(agentEventSchema, ev.payload);
          if (!d.ok) this.guard.malformed("event", subject, d.reason);
          else if (this.guard.bind("event", subject, d.value.agentId)) {
            const e = d.value;
            await lanes.add(`${e.runId}/${e.stage}`, async () => {
              await this.worker.handleEvent(e);
              ev.ack();
            });
            continue;
          }
          ev.ack();
        }
      } catch (err: unknown) {
        if (signal.aborted) break;
        this.log.warn({ err: StagefarmError.from(err) }, "agent event consumer failed; restarting");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await lanes.idle();
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.worker.shutdown();
      const parser = this.parser.close();
      if (this.leaseTimer !== undefined) clearInterval(this.leaseTimer);
      for (const s of this.subs) s.unsubscribe();
      this.stop.abort();
      for (const a of this.active.values())
        a.abort.abort(new StagefarmError("unavailable", "coordinator shutting down"));
      await Promise.allSettled([...this.active.values()].map((a) => a.done));
      await Promise.allSettled(this.loops);
      await Promise.allSettled([...this.writes.values()]);
      await parser;
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
