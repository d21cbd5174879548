/**
 * The reproducibility checks of one run (`--repro`), driven by the run engine
 * (../engine/run-engine.ts): when a named stage finished well (built or cached), its second build
 * is started through the run's StageWorker as the stage's next attempt, without a cache lookup
 * and without a manifest (distributed: excluding the first build's agent); the two builds'
 * outputs are compared (./compare-outputs.ts) and the verdict (./verdict.ts) is emitted as a
 * `repro` run event. A failed second build or comparison is the verdict `error`, never a failed
 * stage; a cancelled run (or a coordinator shutting down) leaves no verdict.
 */
import { StagefarmError } from "../../shared/errors.js";
import { excerpt } from "../../shared/util/excerpt.js";
import type { StageJob, StageWorker } from "../../shared/job.js";
import type { Logger } from "../../shared/log.js";
import type { ArtifactRef, ResolvedStage } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { RunEvent } from "../engine/events.js";
import type { StageStatus } from "../engine/stage-state.js";
import { compareOutputs } from "./compare-outputs.js";
import { differingPackages, verdictOf, type ReproBuild, type ReproDoc } from "./verdict.js";

/** `--repro`: stages built twice and compared. */
export interface ReproRequest {
  stages: ReadonlySet<string>;
  /** A stage that is not reproducible fails the run (`--repro-strict`). */
  strict: boolean;
  /** The second build must run on another agent than the first (distributed). */
  otherAgent: boolean;
  /** Verdicts recorded before (a resumed or retried run): those stages are not built again. */
  recorded?: ReadonlyMap<string, ReproDoc>;
}

export interface ReproContext {
  runId: string;
  pipeline: string;
  signal: AbortSignal;
  stageJobs: number;
  store: ArtifactStore;
  worker: StageWorker;
  log: Logger;
  emit(e: RunEvent): void;
  /** A verdict reached (`error` is none and is not counted). */
  counted?(stage: string, verdict: "reproducible" | "differs"): void;
}

/**
 * An agent id a job may name (shared/protocol/messages.ts): a cache entry's producer that is not
 * one (an older or embedded farm's) is not excluded, rather than making a job no agent accepts.
 */
const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A stage's first build: what the run uses and the cache keeps. */
export type FirstBuild = Extract<StageStatus, { t: "done" | "cached" }>;

export class ReproChecks {
  private readonly verdictsByStage = new Map<string, ReproDoc>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly req: ReproRequest | undefined,
    private readonly ctx: ReproContext,
  ) {
    for (const [name, v] of req?.recorded ?? [])
      if (v.state !== "building") this.verdictsByStage.set(name, v);
  }

  get verdicts(): ReadonlyMap<string, ReproDoc> {
    return this.verdictsByStage;
  }

  /** Second builds (with their comparison) in flight. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Settles when any second build in flight ends. */
  pending(): Promise<void>[] {
    return [...this.running.values()];
  }

  /** With `strict`, the message failing the run: the stages that are not reproducible. */
  failure(): string | undefined {
    if (this.req?.strict !== true) return undefined;
    const differs = [...this.verdictsByStage].filter(([, v]) => v.state === "differs");
    if (differs.length === 0) return undefined;
    return `not reproducible (--repro-strict): ${differs
      .map(([name, v]) => `stage ${name} differs in ${differingPackages(v)}`)
      .join("; ")}`;
  }

  /**
   * Starts the second build of `stage` if it is to be checked and is not yet. `priorAttempts`:
   * the attempts the stage made before this execution; the second build's attempt number
   * follows every one of them, so a restarted coordinator attaches to the same dispatch.
   */
  start(
    stage: ResolvedStage,
    first: FirstBuild,
    inputs: Record<string, ArtifactRef>,
    priorAttempts: number,
  ): void {
    const { req, ctx } = this;
    const name = stage.name;
    if (req === undefined || !req.stages.has(name) || this.verdictsByStage.has(name)) return;
    if (this.running.has(name) || ctx.signal.aborted) return;
    const attempt = Math.max(priorAttempts, first.t === "done" ? first.attempt : 0) + 1;
    const firstAgent = first.t === "done" ? first.agent : first.producer;
    const agent = firstAgent === undefined ? {} : { agent: firstAgent };
    const firstBuild: ReproBuild =
      first.t === "done"
        ? { attempt: first.attempt, logPath: first.logPath, ...agent }
        : { cached: true, ...agent };
    const startedAt = Date.now();
    this.emit(name, { state: "building", first: firstBuild, second: { attempt }, startedAt });
    const job: StageJob = {
      runId: ctx.runId,
      stage,
      key: first.key,
      inputs,
      attempt,
      ...(req.otherAgent && firstAgent !== undefined && AGENT_ID.test(firstAgent)
        ? { excludeAgents: [firstAgent] }
        : {}),
    };
    const ended = (second: ReproBuild, error: string): ReproDoc => ({
      state: "error",
      first: firstBuild,
      second,
      startedAt,
      finishedAt: Date.now(),
      error: excerpt(error, 1000),
    });
    const p = ctx.worker
      .execute(job, {
        signal: ctx.signal,
        jobs: ctx.stageJobs,
        onLog: (chunk) => ctx.emit({ t: "log", runId: ctx.runId, stage: name, attempt, chunk }),
      })
      .then(
        async (result): Promise<ReproDoc> => {
          const second: ReproBuild = {
            attempt,
            logPath: result.logPath,
            ...(result.producer === undefined ? {} : { agent: result.producer }),
          };
          try {
            const compared = await compareOutputs(ctx.store, first.outputs, result.outputs, ctx.signal);
            return { ...verdictOf(compared), first: firstBuild, second, startedAt, finishedAt: Date.now() };
          } catch (err: unknown) {
            return ended(second, `comparing the outputs failed: ${StagefarmError.from(err).message}`);
          }
        },
        (err: unknown): ReproDoc => {
          const e = StagefarmError.from(err);
          const by = e.details["agent"];
          return ended(
            { attempt, ...(typeof by === "string" ? { agent: by } : {}) },
            `the second build failed: ${e.message}`,
          );
        },
      )
      .then((doc) => {
        if (ctx.signal.aborted) return;
        this.verdictsByStage.set(name, doc);
        this.emit(name, doc);
        if (doc.state === "reproducible" || doc.state === "differs") ctx.counted?.(name, doc.state);
        ctx.log[doc.state === "error" ? "warn" : "info"](
          { stage: name, verdict: doc.state, ...(doc.error === undefined ? {} : { err: doc.error }) },
          "reproducibility check finished",
        );
      })
      .finally(() => this.running.delete(name));
    this.running.set(name, p);
  }

  private emit(stage: string, repro: ReproDoc): void {
    this.ctx.emit({ t: "repro", runId: this.ctx.runId, pipeline: this.ctx.pipeline, stage, repro });
  }
}
