/**
 * The agent-side stage executor: runs one attempt of one stage.
 *
 *   fresh workspace → place inputs → runner → collect outputs → store log → remove workspace
 *
 * - The workspace is always removed (success, failure, cancel) unless `keepFailedWorkspace`
 *   keeps a failed one (not a cancelled one) for inspection: its path is logged, written in the
 *   stage's log and error (message and `workspace` detail), and marked kept (./workspace.ts
 *   `markKept`) so that no start-up sweep removes it; it stays until removed by hand.
 * - Everything the runner writes, and the executor's own `>>>` lines, go to one log: a file in
 *   the workspace's private area, streamed live to `onLog` and stored at
 *   `logPathFor(run, stage, attempt)` at the end (also after a failure or a cancel during the
 *   run; not when the job was cancelled before it started).
 * - It only ever rejects with a StagefarmError; a failure carries `logPath` in its details.
 * - A stage with `limits` runs its runner inside a cgroup of its own (./cgroup.ts), named like
 *   its workspace and removed with it; a host that cannot enforce the limits fails the stage
 *   before the runner starts, and a stage the kernel killed at its memory limit fails with
 *   "killed: memory limit … exceeded".
 * - Every process group a runner starts is recorded in the workspace (./process-ledger.ts);
 *   `sweepStaleWork()`, called before an agent takes work, kills what a SIGKILLed predecessor
 *   left running and removes its workspaces (./stale-work.ts).
 * - The stage sees nothing of the agent: the runners build its environment from the stage's
 *   env alone (./runners/common/script-env.ts), and no credential is passed to a runner.
 */
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { errorFields, type Logger } from "../shared/log.js";
import { StagefarmError } from "../shared/errors.js";
import {
  logPathFor,
  type ExecuteOptions,
  type StageJob,
  type StageResult,
  type StageWorker,
} from "../shared/job.js";
import {
  describeLimits,
  formatBytes,
  hasLimits,
  limitsRunnerProblem,
  type ResolvedStage,
} from "../shared/pipeline/index.js";
import type { StoreOutage, ArtifactStore } from "../shared/store/index.js";
import { formatDuration } from "../shared/util/duration.js";
import { CgroupManager, type StageCgroup } from "./cgroup.js";
import { runInStageCgroup } from "./cgroup-scope.js";
import { collectOutputs } from "./collect-outputs.js";
import { placeInputs } from "./place-inputs.js";
import { withProcessLedger } from "./process-ledger.js";
import { sweepStaleWork, type SweepResult } from "./stale-work.js";
import {
  createRunnerRegistry,
  defaultRunners,
  type Runner,
  type RunnerContext,
  type RunnerResult,
  type RunnerRegistry,
} from "./runners/index.js";
import { encodeLogTimes, logTimesPath } from "../shared/log-times.js";
import { StageLog } from "./stage-log.js";
import { createWorkspace, markKept, privatePath, removeWorkspace } from "./workspace.js";
import type { UnpackLimits } from "../shared/pack/index.js";

export interface StageExecutorDeps {
  store: ArtifactStore;
  /** Directory holding the stage workspaces. */
  workRoot: string;
  logger: Logger;
  /** The runners this agent has (default: fetch and shell). */
  runners?: Runner[];
  /** SIGTERM → SIGKILL grace for the default runners (default 5 s). */
  killGraceMs?: number;
  /** Keep the workspace of a failed attempt for inspection, until removed by hand (default false). */
  keepFailedWorkspace?: boolean;
  /** Makes the cgroups of stages with `limits` (default: one found from /proc/self on first use). */
  cgroups?: CgroupManager;
  /** Bounds on each unpacked input (default: shared/pack's defaults, 64 GiB per input). */
  unpackLimits?: UnpackLimits;
  /** Told when a workspace could not be removed (a metric; it is also logged at error). */
  metrics?: ExecutorMetrics;
  /**
   * The store's outage budget (distributed agents): outputs are packed into the workspace
   * first and the log is kept there, and both are stored through it, so a stage that finished
   * during a store outage waits for the store instead of failing.
   */
  outage?: StoreOutage;
}

/** What the executor reports besides its logs. */
export interface ExecutorMetrics {
  workspaceCleanupFailed(): void;
  /** What the start-up sweep of a previous agent's leftovers found. */
  staleWorkSwept?(r: SweepResult): void;
}

export class StageExecutor implements StageWorker {
  readonly #deps: StageExecutorDeps;
  readonly #runners: RunnerRegistry;
  readonly #cgroups: CgroupManager;

  constructor(deps: StageExecutorDeps) {
    this.#deps = deps;
    this.#runners = createRunnerRegistry(deps.runners ?? defaultRunners({ killGraceMs: deps.killGraceMs }));
    this.#cgroups = deps.cgroups ?? new CgroupManager({ logger: deps.logger });
  }

  /** Kills what a previous agent on this work root left running and removes its workspaces. */
  async sweepStaleWork(): Promise<SweepResult> {
    const r = await sweepStaleWork(this.#deps.workRoot, this.#deps.logger, { cgroups: this.#cgroups });
    this.#deps.metrics?.staleWorkSwept?.(r);
    return r;
  }

  async execute(job: StageJob, opts: ExecuteOptions): Promise<StageResult> {
    const started = performance.now();
    const { stage } = job;
    const logger = this.#deps.logger.child({ run: job.runId, stage: stage.name, attempt: job.attempt });
    const logPath = logPathFor(job.runId, stage.name, job.attempt);
    if (opts.signal.aborted)
      throw new StagefarmError("cancelled", `stage "${stage.name}" was cancelled before it started`);

    let workspace: string | undefined;
    let log: StageLog | undefined;
    let keep = false;
    try {
      workspace = await createWorkspace(this.#deps.workRoot, {
        runId: job.runId,
        stage: stage.name,
        attempt: job.attempt,
      });
      log = await StageLog.open(privatePath(workspace, "stage.log"), opts.onLog, logger);
      log.line(`stage ${stage.name} (run ${job.runId}, attempt ${job.attempt}, runner ${stage.runner})`);
      const runner = this.#runners.get(stage.runner);
      const ctx = { stage, workspace, store: this.#deps.store, log, logger, signal: opts.signal };
      await placeInputs({ ...ctx, artifacts: job.inputs, unpackLimits: this.#deps.unpackLimits });
      if (opts.signal.aborted) throw new StagefarmError("cancelled", `stage "${stage.name}" was cancelled`);
      const [ws, stageLog] = [workspace, log];
      const result = await withProcessLedger(privatePath(ws, "pgroups"), () =>
        this.#runLimited(runner, { ...ctx, jobs: opts.jobs }, stageLog, basename(ws)),
      );
      const outputs = await collectOutputs({
        ...ctx,
        stored: result.stored,
        ...(this.#deps.outage === undefined ? {} : { spoolDir: privatePath(workspace, "outputs") }),
      });
      const durationMs = Math.round(performance.now() - started);
      log.line(`stage ${stage.name} succeeded in ${formatDuration(durationMs)}`);
      await this.#storeLog(log, logPath);
      logger.info({ durationMs, outputs: Object.keys(outputs) }, "stage succeeded");
      return { outputs, logPath, durationMs };
    } catch (err: unknown) {
      const error = StagefarmError.from(err);
      keep = workspace !== undefined && this.#deps.keepFailedWorkspace === true && error.code !== "cancelled";
      throw await this.#failed(error, log, logPath, keep ? workspace : undefined, logger);
    } finally {
      if (workspace !== undefined && !keep) await this.#remove(workspace, logger);
    }
  }

  /**
   * Runs the runner, inside a cgroup of its own when the stage has limits: created first (the
   * stage fails here when the host cannot enforce them), removed after, whatever happened.
   */
  async #runLimited(runner: Runner, ctx: RunnerContext, log: StageLog, name: string): Promise<RunnerResult> {
    const { stage } = ctx;
    if (!hasLimits(stage.limits)) {
      log.line(`running ${stage.runner} runner`);
      return await runner.run(ctx);
    }
    const problem = limitsRunnerProblem(stage.runner, stage.with);
    if (problem !== undefined)
      throw new StagefarmError("invalid_pipeline", `stage "${stage.name}": ${problem}`);
    const cgroup = await this.#cgroups.create(name, stage.limits, `stage "${stage.name}"`);
    try {
      log.line(
        `running ${stage.runner} runner with limits ${describeLimits(stage.limits)} (${cgroup.describe})`,
      );
      const result = await runInStageCgroup(cgroup, () => runner.run(ctx));
      const kills = await cgroup.oomKills();
      if (kills > 0)
        log.line(
          `the kernel killed ${kills} process(es) of this stage at its memory limit; the script still succeeded`,
        );
      return result;
    } catch (err: unknown) {
      throw await memoryLimitError(stage, cgroup, StagefarmError.from(err));
    } finally {
      await cgroup.close().catch((err: unknown) => {
        ctx.logger.error({ ...errorFields(err), cgroup: cgroup.describe }, "could not remove stage cgroup");
      });
    }
  }

  /**
   * Records the failure in the log, stores the log, and returns the error to throw; `kept`, the
   * workspace kept for inspection, is marked, logged and named in the error.
   */
  async #failed(
    err: StagefarmError,
    log: StageLog | undefined,
    logPath: string,
    kept: string | undefined,
    logger: Logger,
  ): Promise<StagefarmError> {
    const details: Record<string, unknown> = { ...err.details };
    let message = err.message;
    if (kept !== undefined) {
      try {
        await markKept(kept);
        details["workspace"] = kept;
        message = `${message} (workspace kept at ${kept})`;
        log?.line(`workspace kept for inspection at ${kept}; remove it by hand`);
        logger.warn({ workspace: kept, code: err.code }, "failed stage's workspace kept for inspection");
      } catch (markErr: unknown) {
        logger.error(
          { ...errorFields(markErr), workspace: kept },
          "could not mark a failed stage's workspace kept",
        );
      }
    }
    if (log) {
      log.line(`stage failed (${err.code}): ${err.message}`);
      try {
        await this.#storeLog(log, logPath);
        details["logPath"] = logPath;
      } catch (logErr: unknown) {
        logger.error({ ...errorFields(logErr), logPath }, "could not store the log of a failed stage");
      }
    }
    // Not logged here: whoever receives the error logs it, once (the agent service, the engine).
    return new StagefarmError(err.code, message, { cause: err, details });
  }

  /**
   * Stores the log from its file; through a store outage, read again from the file on each try.
   * Then its line-times index: a log without one reads without times, so failing to store it
   * fails nothing (it is logged).
   */
  async #storeLog(log: StageLog, logPath: string): Promise<void> {
    await log.close();
    const { store, outage } = this.#deps;
    const put = (): Promise<void> => store.putLog(logPath, createReadStream(log.path));
    await (outage === undefined ? put() : outage.run(`storing log ${logPath}`, put));
    const timesPath = logTimesPath(logPath);
    await store.putLog(timesPath, encodeLogTimes(log.times)).catch((err: unknown) => {
      this.#deps.logger.warn(
        { ...errorFields(err), logPath: timesPath },
        "could not store the log's line times",
      );
    });
  }

  /**
   * Removes a workspace. A failure to remove it does not change the stage's result (its
   * outputs are stored, or its error is more useful); it is reported at error level.
   */
  async #remove(workspace: string, logger: Logger): Promise<void> {
    try {
      await removeWorkspace(workspace);
    } catch (err: unknown) {
      this.#deps.metrics?.workspaceCleanupFailed();
      logger.error({ ...errorFields(err), workspace }, "could not remove stage workspace");
    }
  }
}

/** A failure of a stage whose processes the kernel killed at its memory limit says so. */
async function memoryLimitError(
  stage: ResolvedStage,
  cgroup: StageCgroup,
  err: StagefarmError,
): Promise<StagefarmError> {
  const limit = stage.limits?.memoryBytes;
  if (limit === undefined || err.code === "cancelled" || err.code === "timeout") return err;
  const kills = await cgroup.oomKills();
  if (kills === 0) return err;
  return new StagefarmError(
    "stage_failed",
    `stage "${stage.name}" killed: memory limit ${formatBytes(limit)} exceeded`,
    {
      cause: err,
      details: { ...err.details, memoryLimitBytes: limit, oomKills: kills },
    },
  );
}
