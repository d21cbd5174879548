/**
 * The agent-side stage executor: runs one attempt of one stage.
 *
 *   fresh workspace → place inputs → runner → collect outputs → store log → remove workspace
 *
 * - The workspace is always removed (success, failure, cancel) unless `keepFailedWorkspace`
 *   keeps a failed one for debugging (its path is then in the error details).
 * - Everything the runner writes, and the executor's own `>>>` lines, go to one log: a file in
 *   the workspace's private area, streamed live to `onLog` and stored at
 *   `logPathFor(run, stage, attempt)` at the end (also after a failure or a cancel during the
 *   run; not when the job was cancelled before it started).
 * - It only ever rejects with a StagefarmError; a failure carries `logPath` in its details.
 */
import { createReadStream } from "node:fs";
import type { Logger } from "pino";
import { StagefarmError } from "../shared/errors.js";
import {
  logPathFor,
  type ExecuteOptions,
  type StageJob,
  type StageResult,
  type StageWorker,
} from "../shared/job.js";
import type { ArtifactStore } from "../shared/store/types.js";
import { formatDuration } from "../shared/util/duration.js";
import { collectOutputs } from "./collect-outputs.js";
import { placeInputs } from "./place-inputs.js";
import { createRunnerRegistry, defaultRunners, type RunnerRegistry } from "./runners/registry.js";
import type { Runner } from "./runners/types.js";
import { StageLog } from "./stage-log.js";
import { createWorkspace, privatePath, removeWorkspace } from "./workspace.js";

export interface StageExecutorDeps {
  store: ArtifactStore;
  /** Directory holding the stage workspaces. */
  workRoot: string;
  logger: Logger;
  /** The runners this agent has (default: fetch and shell). */
  runners?: Runner[];
  /** SIGTERM → SIGKILL grace for the default runners (default 5 s). */
  killGraceMs?: number;
  /** Keep the workspace of a failed attempt for debugging (default false). */
  keepFailedWorkspace?: boolean;
}

export class StageExecutor implements StageWorker {
  readonly #deps: StageExecutorDeps;
  readonly #runners: RunnerRegistry;

  constructor(deps: StageExecutorDeps) {
    this.#deps = deps;
    this.#runners = createRunnerRegistry(deps.runners ?? defaultRunners({ killGraceMs: deps.killGraceMs }));
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
    let failed = true;
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
      await placeInputs({ ...ctx, artifacts: job.inputs });
      if (opts.signal.aborted) throw new StagefarmError("cancelled", `stage "${stage.name}" was cancelled`);
      log.line(`running ${stage.runner} runner`);
      const result = await runner.run({ ...ctx, jobs: opts.jobs });
      const outputs = await collectOutputs({ ...ctx, stored: result.stored });
      const durationMs = Math.round(performance.now() - started);
      log.line(`stage ${stage.name} succeeded in ${formatDuration(durationMs)}`);
      await this.#storeLog(log, logPath);
      failed = false;
      logger.info({ durationMs, outputs: Object.keys(outputs) }, "stage succeeded");
      return { outputs, logPath, durationMs };
    } catch (err: unknown) {
      throw await this.#failed(StagefarmError.from(err), log, logPath, workspace, logger);
    } finally {
      if (workspace !== undefined && !(failed && this.#deps.keepFailedWorkspace))
        await this.#remove(workspace, logger);
    }
  }

  /** Records the failure in the log, stores the log, and returns the error to throw. */
  async #failed(
    err: StagefarmError,
    log: StageLog | undefined,
    logPath: string,
    workspace: string | undefined,
    logger: Logger,
  ): Promise<StagefarmError> {
    const details: Record<string, unknown> = { ...err.details };
    if (log) {
      log.line(`stage failed (${err.code}): ${err.message}`);
      try {
        await this.#storeLog(log, logPath);
        details["logPath"] = logPath;
      } catch (logErr: unknown) {
        logger.error(
          { err: StagefarmError.from(logErr), logPath },
          "could not store the log of a failed stage",
        );
      }
    }
    if (workspace !== undefined && this.#deps.keepFailedWorkspace) details["workspace"] = workspace;
    logger.warn({ code: err.code, err }, "stage failed");
    return new StagefarmError(err.code, err.message, { cause: err, details });
  }

  async #storeLog(log: StageLog, logPath: string): Promise<void> {
    await log.close();
    await this.#deps.store.putLog(logPath, createReadStream(log.path));
  }

  /**
   * Removes a workspace. A failure to remove it does not change the stage's result (its
   * outputs are stored, or its error is more useful); it is reported at error level.
   */
  async #remove(workspace: string, logger: Logger): Promise<void> {
    try {
      await removeWorkspace(workspace);
    } catch (err: unknown) {
      logger.error({ err: StagefarmError.from(err), workspace }, "could not remove stage workspace");
    }
  }
}
