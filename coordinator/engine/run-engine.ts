/**
 * The run engine: schedules one run of a pipeline's DAG onto N slots of a StageWorker.
 *
 * - A stage becomes ready when every upstream stage finished well (cached or done). Its cache
 *   key is computed from the *content digests* of its inputs (early cutoff), then the action
 *   cache is checked: a hit makes it `cached` without running anything.
 * - Ready stages start highest priority first: the longest expected duration from the stage to
 *   the end of the DAG (critical path first; shared/schedule/ready-order.ts).
 * - A failure fails the stage after its retries (those its `retry_on` allows:
 *   ./failure-policy.ts); every stage downstream of it is `skipped` while independent branches
 *   run to completion.
 * - While the run goes on, a failed stage can be retried ({@link RunHandle.retryStage}): it
 *   goes back to `waiting` with its attempts numbered on and its `retries` counting afresh, and
 *   the stages skipped because of it wait again. The run's outcome is decided at its end.
 * - Aborting the signal cancels running stages (the worker kills their processes) and marks the
 *   rest `cancelled`.
 * - Only the engine writes action-cache manifests, after the worker's result was accepted.
 * - While the store is unavailable (`storeGate`) nothing new starts: stages that would move on
 *   wait with the reason `store unavailable since T`; running stages go on (agents and the
 *   engine's own store calls retry through the outage). An outage longer than its budget stops
 *   holding them: the next store call fails, and the stage with it, naming the outage.
 *
 * - Reproducibility (`repro`): a named stage that finished well (built or cached) is built a
 *   second time without the cache, as its next attempt (distributed: excluding the agent of the
 *   first build), while the run goes on with the first build's outputs; the two builds' outputs
 *   are compared (../repro/) and the verdict emitted as a `repro` event. The second build never
 *   writes a manifest; its failure, or a failure to compare, is a verdict of `error`, never a
 *   failed stage. The run waits for every second build before it ends.
 *
 * The same engine runs embedded (StageExecutor in-process) and, later, distributed (a worker
 * that dispatches to agents).
 */
import { computeCacheKey } from "../../shared/cache-key/index.js";
import type { Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageWorker } from "../../shared/job.js";
import { errorFields, type Logger } from "../../shared/log.js";
import {
  downstreamOf,
  stageDeps,
  topoOrder,
  type ArtifactRef,
  type ResolvedStage,
} from "../../shared/pipeline/index.js";
import { readyOrder, type ReadyOrder } from "../../shared/schedule/index.js";
import { MinHeap } from "../../shared/util/min-heap.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { ReproChecks, type ReproRequest } from "../repro/repro-checks.js";
import type { ReproDoc } from "../repro/verdict.js";
import { recordRunStats } from "../stats/run-stats.js";
import { lookupCache } from "./cache-lookup.js";
import { defaultRetryBackoffMs, dropCorruptInput, mayRetry } from "./failure-policy.js";
import type { RunEvent, RunEventListener } from "./events.js";
import {
  countStages,
  isTerminal,
  outputsOf,
  type RunOutcome,
  type StageCounts,
  type StageStatus,
} from "./stage-state.js";

export interface EngineMetrics {
  stageFinished(pipeline: string, stage: string, result: StageStatus["t"], durationMs: number): void;
  cacheLookup(hit: boolean): void;
  /** Every state change of a stage (gauges of waiting and running stages). */
  stageState?(runId: string, pipeline: string, stage: string, status: StageStatus): void;
  /** A reproducibility check reached a verdict (`error` is no verdict and is not counted). */
  reproCheck?(pipeline: string, stage: string, verdict: "reproducible" | "differs"): void;
}

/** Whether the store answers (shared/store/store-outage.ts `StoreOutage`). */
export interface StoreGate {
  readonly budgetMs: number;
  readonly unavailableSince: number | undefined;
  /** `store unavailable since T`, or undefined when it answers. */
  describe(): string | undefined;
  onChange(listener: (unavailableSince: number | undefined) => void): () => void;
}

export interface RunEngineDeps {
  store: ArtifactStore;
  /** Holds new work while the store is unavailable (absent: never held). */
  storeGate?: StoreGate;
  worker: StageWorker;
  logger: Logger;
  metrics?: EngineMetrics;
  /** Who produces manifests ("local" embedded; the agent id when distributed). */
  producer?: string;
}

export interface RunRequest {
  runId: string;
  pipeline: string;
  stages: ResolvedStage[];
  /** Stages that may run at once. */
  slots: number;
  /** Build jobs granted to each running stage (MAKEOPTS). */
  stageJobs: number;
  signal: AbortSignal;
  onEvent?: RunEventListener;
  /** Wait before attempt N+1 of a failed stage (default: 10 s doubling per attempt, at most 10 min). */
  retryBackoffMs?: (failedAttempt: number) => number;
  /** Expected duration of a stage, for critical-path-first ordering. */
  estimateMs?: (stage: string) => number;
  /** Attempts a stage made before this execution (a retried run): its attempts are numbered
   *  after them, so each has its own dispatch and log, and its `retries` count afresh. */
  priorAttempts?: (stage: string) => number;
  /**
   * A resumed run's stages that had a dispatch when its coordinator stopped. Such a stage attaches
   * to its dispatch (the result, if one was accepted) instead of consulting the cache: the run's
   * document may be behind its dispatch records (it is written behind the run), and a stage that
   * finished since then is executed, once, not a cache hit of its own output.
   */
  dispatched?: ReadonlySet<string>;
  repro?: ReproRequest;
}

export interface RunResult {
  runId: string;
  pipeline: string;
  outcome: RunOutcome;
  counts: StageCounts;
  states: ReadonlyMap<string, StageStatus>;
  durationMs: number;
  /** The verdicts of the stages checked with `repro`. */
  repro: ReadonlyMap<string, ReproDoc>;
  /** `strict`: why the run failed although every stage succeeded. */
  reproFailure?: string;
}

/** Resolves after `ms`, or at once when the signal aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A run the engine is executing. */
export interface RunHandle {
  readonly result: Promise<RunResult>;
  /**
   * Runs a failed stage again while the run goes on (and the stages it had skipped after it).
   * False when the run has already ended (retry it as a finished run); throws `invalid_argument`
   * for a stage that is not `failed`, `not_found` for one the run does not have.
   */
  retryStage(stage: string): boolean;
}

export function startRun(deps: RunEngineDeps, req: RunRequest): RunHandle {
  const run = new RunScheduler(deps, req);
  return { result: run.execute(), retryStage: (stage) => run.retryStage(stage) };
}

export async function executeRun(deps: RunEngineDeps, req: RunRequest): Promise<RunResult> {
  return startRun(deps, req).result;
}

class RunScheduler {
  private readonly byName: Map<string, ResolvedStage>;
  private readonly order: string[];
  private readonly upstream: Map<string, string[]>;
  /** The order ready stages start in (shared with `stagefarm plan --agents`' simulation). */
  private readonly readyOrder: ReadyOrder;
  private readonly states = new Map<string, StageStatus>();
  /** Stage name → the stages that take an input from it. */
  private readonly consumers = new Map<string, string[]>();
  /** Position of each stage in {@link order}. */
  private readonly rank = new Map<string, number>();
  /**
   * Stages to look at in the next {@link advance}: those whose own state or an upstream stage's
   * changed (each change marks its consumers), so a pass costs what changed, not the whole DAG
   * (10,000 stages looked at for every event made a run quadratic in its stages).
   */
  private readonly touched = new MinHeap<number>((a, b) => a < b);
  private readonly isTouched = new Set<string>();
  /** The stages in state `ready` (started best first by {@link advance}). */
  private readonly readyNow = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  /** `repro`: the second builds and their verdicts. */
  private readonly repro: ReproChecks;
  /** Stages sent back to `waiting` after a corrupt cached input, with the attempt that failed. */
  private readonly rebuilt = new Map<string, number>();
  /** Failed stages retried during the run, with the last attempt before the retry. */
  private readonly retried = new Map<string, number>();
  /** Wakes the scheduling loop (a retry during the run). */
  private wake: (() => void) | undefined;
  /** A retry came in since the loop last advanced. */
  private poked = false;
  /** The scheduling loop has ended: no stage changes any more. */
  private ended = false;
  private readonly log: Logger;
  private readonly started = Date.now();

  constructor(
    private readonly deps: RunEngineDeps,
    private readonly req: RunRequest,
  ) {
    this.byName = new Map(req.stages.map((s) => [s.name, s]));
    this.order = topoOrder(req.stages);
    this.upstream = new Map(req.stages.map((s) => [s.name, stageDeps(s)]));
    this.order.forEach((n, i) => {
      this.rank.set(n, i);
      this.consumers.set(n, []);
    });
    for (const [name, ups] of this.upstream)
      for (const u of ups) if (u !== name) this.consumers.get(u)?.push(name);
    this.readyOrder = readyOrder(req.stages, req.estimateMs ?? (() => 1000));
    this.log = deps.logger.child({ run: req.runId, pipeline: req.pipeline });
    this.repro = new ReproChecks(req.repro, {
      runId: req.runId,
      pipeline: req.pipeline,
      signal: req.signal,
      stageJobs: req.stageJobs,
      store: deps.store,
      worker: deps.worker,
      log: this.log,
      emit: (e) => this.emit(e),
      counted: (stage, verdict) => deps.metrics?.reproCheck?.(req.pipeline, stage, verdict),
    });
  }

  async execute(): Promise<RunResult> {
    const { req } = this;
    this.emit({
      t: "run-started",
      runId: req.runId,
      pipeline: req.pipeline,
      stages: this.order.length,
      jobs: req.slots,
    });
    for (const name of this.order) {
      const ups = this.upstream.get(name) ?? [];
      this.set(name, { t: "waiting", reason: ups.length > 0 ? `waiting for ${ups.join(", ")}` : "waiting" });
    }
    for (;;) {
      this.poked = false;
      await this.advance();
      if (this.poked) continue; // a retry came in while it advanced
      const backoffUntil = this.nextRetryAt();
      const heldUntil = this.heldForStoreUntil();
      if (this.busy() === 0 && backoffUntil === undefined && heldUntil === undefined) {
        this.ended = true;
        break;
      }
      // The timers of this wait end with it (a long hold must not keep the process alive).
      const woken = new AbortController();
      const onAbort = (): void => woken.abort();
      req.signal.addEventListener("abort", onAbort, { once: true });
      const wakeups: Promise<unknown>[] = [...this.running.values(), ...this.repro.pending()];
      wakeups.push(new Promise<void>((resolve) => (this.wake = resolve)));
      if (backoffUntil !== undefined) wakeups.push(delay(backoffUntil - Date.now(), woken.signal));
      if (heldUntil !== undefined) wakeups.push(delay(heldUntil - Date.now(), woken.signal));
      let unsubscribe: (() => void) | undefined;
      const gate = this.deps.storeGate;
      if (gate !== undefined)
        wakeups.push(new Promise<void>((resolve) => (unsubscribe = gate.onChange(() => resolve()))));
      try {
        await Promise.race(wakeups);
      } finally {
        unsubscribe?.();
        this.wake = undefined;
        req.signal.removeEventListener("abort", onAbort);
        woken.abort();
      }
    }
    for (const name of this.order) {
      const s = this.state(name);
      if (!isTerminal(s)) this.set(name, { t: "cancelled", reason: "run cancelled" });
    }
    const counts = countStages(this.states.values());
    const reproFailure = this.repro.failure();
    const outcome: RunOutcome = req.signal.aborted
      ? "cancelled"
      : counts.failed > 0 || reproFailure !== undefined
        ? "failed"
        : "succeeded";
    // A cancelled (or abandoned, to be resumed) run is not recorded: it would count twice.
    if (!req.signal.aborted)
      await recordRunStats(this.deps.store, this.req.pipeline, this.states, this.started, this.log);
    const durationMs = Date.now() - this.started;
    const failure = reproFailure === undefined ? {} : { reproFailure };
    this.emit({
      t: "run-finished",
      runId: req.runId,
      pipeline: req.pipeline,
      outcome,
      counts,
      durationMs,
      ...failure,
    });
    return {
      runId: req.runId,
      pipeline: req.pipeline,
      outcome,
      counts,
      states: this.states,
      durationMs,
      repro: this.repro.verdicts,
      ...failure,
    };
  }

  /** Stages and second builds in flight (each takes a slot). */
  private busy(): number {
    return this.running.size + this.repro.inFlight;
  }

  /** See {@link RunHandle.retryStage}. */
  retryStage(name: string): boolean {
    if (this.ended || this.req.signal.aborted) return false;
    const s = this.states.get(name);
    if (s === undefined) throw new StagefarmError("not_found", `run ${this.req.runId} has no stage ${name}`);
    if (s.t !== "failed")
      throw new StagefarmError(
        "invalid_argument",
        `stage ${name} of run ${this.req.runId} is ${s.t}; while a run goes on, only its failed stages are retried`,
      );
    this.retried.set(name, Math.max(s.attempt, this.base(name)));
    this.log.info({ stage: name, attempt: s.attempt }, "failed stage retried during the run");
    this.set(name, { t: "waiting", reason: "retried" });
    for (const d of downstreamOf(this.req.stages, name))
      if (this.state(d).t === "skipped")
        this.set(d, { t: "waiting", reason: `waiting for ${name} (retried)` });
    this.poked = true;
    this.wake?.();
    return true;
  }

  /**
   * While the store is unavailable within its budget: when holding ends (the budget is spent),
   * if some stage is still to start; else undefined.
   */
  private heldForStoreUntil(): number | undefined {
    const gate = this.deps.storeGate;
    const since = gate?.unavailableSince;
    if (gate === undefined || since === undefined || this.req.signal.aborted) return undefined;
    const until = since + gate.budgetMs;
    if (until <= Date.now()) return undefined;
    const pending = [...this.states.values()].some((s) => s.t === "waiting" || s.t === "ready");
    return pending ? until : undefined;
  }

  /** Holds the stages that would move on while the store is away, saying why. */
  private holdForStore(reason: string): void {
    for (const name of this.order) {
      const cur = this.state(name);
      if (cur.t === "waiting" && cur.reason !== reason) this.set(name, { t: "waiting", reason });
    }
  }

  /** Moves every stage as far as it can go, then fills free slots. */
  private async advance(): Promise<void> {
    if (this.req.signal.aborted) return;
    const outage = this.deps.storeGate?.describe();
    if (outage !== undefined && this.heldForStoreUntil() !== undefined) {
      this.holdForStore(outage);
      return;
    }
    // Dependency order: a stage cached in this pass lets its consumers (marked now, later in
    // the order) move on in the same pass.
    for (let i = this.touched.pop(); i !== undefined; i = this.touched.pop()) {
      const name = this.order[i] ?? "";
      this.isTouched.delete(name);
      if (this.state(name).t !== "waiting") continue;
      const ups = this.upstream.get(name) ?? [];
      const bad = ups.find((u) => {
        const t = this.state(u).t;
        return t === "failed" || t === "skipped" || t === "cancelled";
      });
      if (bad !== undefined) {
        const why =
          this.state(bad).t === "failed"
            ? `upstream stage ${bad} failed`
            : `upstream stage ${bad} did not run`;
        this.set(name, { t: "skipped", reason: why });
        this.deps.metrics?.stageFinished(this.req.pipeline, name, "skipped", 0);
        continue;
      }
      const pending = ups.filter((u) => outputsOf(this.state(u)) === undefined);
      if (pending.length > 0) {
        const reason = `waiting for ${pending.join(", ")}`;
        const cur = this.state(name);
        if (cur.t === "waiting" && cur.reason !== reason) this.set(name, { t: "waiting", reason });
        continue;
      }
      await this.resolveReady(name);
    }
    const now = Date.now();
    const ready = [...this.readyNow]
      .filter((n) => {
        const st = this.state(n);
        return st.t === "ready" && (st.retryAt === undefined || st.retryAt <= now);
      })
      .sort((a, b) => this.readyOrder.compare(a, b));
    for (const name of ready) {
      if (this.busy() >= this.req.slots || this.req.signal.aborted) break;
      this.start(name);
    }
  }

  /** The earliest time a stage in retry backoff may start, if any. */
  private nextRetryAt(): number | undefined {
    if (this.req.signal.aborted) return undefined;
    let next: number | undefined;
    for (const name of this.readyNow) {
      const st = this.state(name);
      if (st.t === "ready" && st.retryAt !== undefined && (next === undefined || st.retryAt < next))
        next = st.retryAt;
    }
    return next;
  }

  /** The attempts a stage made before its `retries` count afresh (a retried run or stage). */
  private base(name: string): number {
    return Math.max(this.req.priorAttempts?.(name) ?? 0, this.retried.get(name) ?? 0);
  }

  /** All upstream outputs known: compute the key and consult the action cache. */
  private async resolveReady(name: string): Promise<void> {
    const stage = this.stage(name);
    let key: Digest;
    try {
      key = computeCacheKey(stage, this.inputsOf(stage));
      let hit: Awaited<ReturnType<typeof lookupCache>>;
      if (this.req.dispatched?.has(name) !== true) {
        hit = await lookupCache(this.deps.store, key, this.log);
        this.deps.metrics?.cacheLookup(hit !== undefined);
      }
      if (hit !== undefined) {
        this.set(name, {
          t: "cached",
          key,
          outputs: hit.outputs,
          durationMs: hit.durationMs,
          producer: hit.producer,
        });
        this.deps.metrics?.stageFinished(this.req.pipeline, name, "cached", 0);
        return;
      }
    } catch (err: unknown) {
      this.set(name, { t: "failed", attempt: 0, error: StagefarmError.from(err), durationMs: 0 });
      return;
    }
    const floor = Math.max(this.base(name), this.rebuilt.get(name) ?? 0);
    this.set(name, { t: "ready", key, attempt: floor + 1, readyAt: Date.now() });
  }

  private inputsOf(stage: ResolvedStage): Record<string, ArtifactRef> {
    const inputs: Record<string, ArtifactRef> = {};
    for (const input of stage.inputs) {
      if (input.t !== "stage") continue;
      const out = outputsOf(this.state(input.stage))?.[input.output];
      if (out === undefined)
        throw new StagefarmError(
          "not_found",
          `stage "${stage.name}" input "${input.name}": stage "${input.stage}" has no output "${input.output}"`,
        );
      inputs[input.name] = { digest: out.digest, size: out.size, kind: out.kind };
    }
    return inputs;
  }

  private start(name: string): void {
    const s = this.state(name);
    if (s.t !== "ready") return;
    const stage = this.stage(name);
    const startedAt = Date.now();
    this.set(name, { t: "running", key: s.key, attempt: s.attempt, startedAt });
    const job = {
      runId: this.req.runId,
      stage,
      key: s.key,
      inputs: this.inputsOf(stage),
      attempt: s.attempt,
    };
    const p = this.deps.worker
      .execute(job, {
        signal: this.req.signal,
        jobs: this.req.stageJobs,
        onLog: (chunk) =>
          this.emit({ t: "log", runId: this.req.runId, stage: name, attempt: s.attempt, chunk }),
      })
      .then(async (result) => {
        await this.deps.store.putManifest({
          v: 1,
          key: s.key,
          pipeline: this.req.pipeline,
          stage: name,
          runner: stage.runner,
          outputs: result.outputs,
          log: result.logPath,
          createdAt: new Date().toISOString(),
          durationMs: result.durationMs,
          producer: result.producer ?? this.deps.producer ?? "local",
        });
        this.set(name, {
          t: "done",
          key: s.key,
          outputs: result.outputs,
          attempt: s.attempt,
          durationMs: result.durationMs,
          logPath: result.logPath,
          ...(result.producer === undefined ? {} : { agent: result.producer }),
        });
        this.deps.metrics?.stageFinished(this.req.pipeline, name, "done", result.durationMs);
      })
      .catch((err: unknown) => this.onFailure(name, stage, s.key, s.attempt, startedAt, err))
      .catch((err: unknown) => {
        // Handling the failure itself failed (e.g. the store is gone): the stage fails, the run goes on.
        this.set(name, {
          t: "failed",
          key: s.key,
          attempt: s.attempt,
          error: StagefarmError.from(err),
          durationMs: 0,
        });
      })
      .finally(() => this.running.delete(name));
    this.running.set(name, p);
  }

  private async onFailure(
    name: string,
    stage: ResolvedStage,
    key: Digest,
    attempt: number,
    startedAt: number,
    err: unknown,
  ): Promise<void> {
    const error = StagefarmError.from(err);
    const durationMs = Date.now() - startedAt;
    if (this.req.signal.aborted || error.code === "cancelled") {
      const agent = error.details["agent"];
      this.set(name, {
        t: "cancelled",
        reason: "run cancelled",
        ...(typeof agent === "string" ? { agent } : {}),
      });
      this.deps.metrics?.stageFinished(this.req.pipeline, name, "cancelled", durationMs);
      return;
    }
    if (error.code === "corrupt_artifact") {
      const dropped = await dropCorruptInput(
        this.deps.store,
        (this.upstream.get(stage.name) ?? []).map((up) => [up, this.state(up)] as const),
        error,
        this.log,
      );
      if (this.rebuildAfterCorruptInput(name, dropped, attempt, error)) return;
    }
    if (mayRetry(error, stage.retryOn) && attempt - this.base(name) <= stage.retries) {
      const retryAt = Date.now() + (this.req.retryBackoffMs ?? defaultRetryBackoffMs)(attempt);
      this.log.warn(
        { stage: name, attempt, ...errorFields(error), retryAt: new Date(retryAt).toISOString() },
        "stage failed; retrying",
      );
      this.set(name, { t: "ready", key, attempt: attempt + 1, readyAt: Date.now(), retryAt, failure: error });
      return;
    }
    // A stage's own failure (its script, a missing output) is the run's outcome, reported to the
    // user with the run; the farm's operators need to hear only of failures from elsewhere.
    const own = error.code === "stage_failed" || error.code === "missing_output";
    this.log[own ? "info" : "error"]({ stage: name, attempt, ...errorFields(error) }, "stage failed");
    this.set(name, { t: "failed", key, attempt, error, durationMs });
    this.deps.metrics?.stageFinished(this.req.pipeline, name, "failed", durationMs);
  }

  /**
   * A cached producer whose output turned out corrupt (its cache entry is gone now) is built
   * again in this run, and `name` waits for it and runs again: once per stage and run.
   */
  private rebuildAfterCorruptInput(
    name: string,
    dropped: readonly string[],
    attempt: number,
    error: StagefarmError,
  ): boolean {
    if (dropped.length === 0 || this.rebuilt.has(name)) return false;
    this.rebuilt.set(name, attempt);
    for (const up of dropped) {
      this.rebuilt.set(up, this.rebuilt.get(up) ?? 0);
      this.set(up, { t: "waiting", reason: "rebuilding: its cached output was corrupt" });
    }
    this.log.warn(
      { stage: name, attempt, rebuild: dropped, err: error },
      "a cached input was corrupt; rebuilding its producer and running the stage again",
    );
    this.set(name, { t: "waiting", reason: `waiting for ${dropped.join(", ")} (rebuilt)` });
    return true;
  }

  /** Marks a stage for the next {@link advance}. */
  private touch(name: string): void {
    const i = this.rank.get(name);
    if (i === undefined || this.isTouched.has(name)) return;
    this.isTouched.add(name);
    this.touched.push(i);
  }

  private state(name: string): StageStatus {
    const s = this.states.get(name);
    if (s === undefined) throw new StagefarmError("internal", `no state for stage ${name}`);
    return s;
  }

  private stage(name: string): ResolvedStage {
    const s = this.byName.get(name);
    if (s === undefined) throw new StagefarmError("internal", `unknown stage ${name}`);
    return s;
  }

  private set(name: string, status: StageStatus): void {
    this.states.set(name, status);
    if (status.t === "ready") this.readyNow.add(name);
    else this.readyNow.delete(name);
    this.touch(name);
    for (const c of this.consumers.get(name) ?? []) this.touch(c);
    this.deps.metrics?.stageState?.(this.req.runId, this.req.pipeline, name, status);
    this.emit({ t: "stage", runId: this.req.runId, pipeline: this.req.pipeline, stage: name, status });
    if (status.t === "done" || status.t === "cached")
      this.repro.start(this.stage(name), status, this.inputsOf(this.stage(name)), this.base(name));
  }

  private emit(e: RunEvent): void {
    try {
      this.req.onEvent?.(e);
    } catch (err: unknown) {
      this.log.error({ err: StagefarmError.from(err) }, "run event listener threw");
    }
  }
}
