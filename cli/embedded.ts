/**
 * The embedded farm: coordinator engine and a local agent executor in one process, with the
 * filesystem artifact store. No servers. This file is the composition root that may import
 * both coordinator/ and agent/ (which never import each other).
 */
import { availableParallelism } from "node:os";
import { StageExecutor } from "../agent/index.js";
import {
  executeRun,
  newRunId,
  type CoordinatorMetrics,
  type RunEventListener,
  type RunResult,
} from "../coordinator/index.js";
import type { Logger } from "../shared/log.js";
import { resolvePipeline } from "../shared/pipeline/index.js";
import type { PipelineSpec } from "../shared/pipeline/types.js";
import { FsArtifactStore } from "../shared/store/index.js";
import type { LocalConfig } from "./config.js";

export interface EmbeddedRunOptions {
  params: Record<string, string>;
  slots: number;
  signal: AbortSignal;
  onEvent?: RunEventListener;
  runId?: string;
}

const DEFAULT_ESTIMATE_MS = 60_000;

export class EmbeddedFarm implements AsyncDisposable {
  private closed = false;

  private constructor(
    readonly store: FsArtifactStore,
    private readonly executor: StageExecutor,
    private readonly logger: Logger,
    /** Present for `stagefarm up`, which serves /metrics; a one-off `run` does without. */
    private readonly metrics: CoordinatorMetrics | undefined,
  ) {}

  static async open(
    cfg: LocalConfig,
    logger: Logger,
    opts: { metrics?: CoordinatorMetrics } = {},
  ): Promise<EmbeddedFarm> {
    const store = await FsArtifactStore.open(cfg.storeDir);
    const executor = new StageExecutor({
      store,
      workRoot: cfg.workDir,
      logger: logger.child({ component: "agent" }),
    });
    return new EmbeddedFarm(store, executor, logger, opts.metrics);
  }

  async run(spec: PipelineSpec, opts: EmbeddedRunOptions): Promise<RunResult> {
    const stages = resolvePipeline(spec, opts.params);
    const estimates = new Map(stages.map((s) => [s.name, s.estimateMs ?? DEFAULT_ESTIMATE_MS]));
    this.metrics?.runsActive.inc();
    try {
      const result = await executeRun(
        {
          store: this.store,
          worker: this.executor,
          logger: this.logger.child({ component: "engine" }),
          ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
        },
        {
          runId: opts.runId ?? newRunId(),
          pipeline: spec.name,
          stages,
          slots: opts.slots,
          stageJobs: Math.max(1, Math.floor(availableParallelism() / opts.slots)),
          signal: opts.signal,
          estimateMs: (name) => estimates.get(name) ?? DEFAULT_ESTIMATE_MS,
          ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
        },
      );
      this.metrics?.runsTotal.inc({ pipeline: spec.name, outcome: result.outcome });
      return result;
    } finally {
      this.metrics?.runsActive.dec();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
