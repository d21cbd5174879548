/**
 * The unit of work the coordinator hands to an agent, and what comes back. In embedded mode
 * these cross a function call; in distributed mode they travel over NATS (a later issue).
 */
import type { Digest } from "./digest.js";
import type { ArtifactRef, ResolvedStage } from "./pipeline/index.js";
import type { ManifestOutput } from "./store/index.js";

export interface StageJob {
  runId: string;
  stage: ResolvedStage;
  /** The cache key the coordinator computed for this stage and these inputs. */
  key: Digest;
  /** Artifacts filling the stage's `t: "stage"` inputs, by input name. */
  inputs: Record<string, ArtifactRef>;
  /** 1-based attempt number within the run. */
  attempt: number;
  /** Agents that must not run it (the second build of a reproducibility check). */
  excludeAgents?: string[];
}

export interface ExecuteOptions {
  signal: AbortSignal;
  /** Parallel build slots for this stage (MAKEOPTS/--jobs). */
  jobs: number;
  /** Live log output of the stage, in chunks as produced (already decoded as UTF-8). */
  onLog?: (chunk: string) => void;
}

export interface StageResult {
  outputs: Record<string, ManifestOutput>;
  /** Store path of the captured log (`logs/<run>/<stage>/<attempt>.log`). */
  logPath: string;
  durationMs: number;
  /** The agent that produced it, when the worker knows (recorded on the cache entry). */
  producer?: string;
}

/** Runs stage jobs: the local executor in embedded mode, the agent fleet when distributed. */
export interface StageWorker {
  execute(job: StageJob, opts: ExecuteOptions): Promise<StageResult>;
}

/** The store path of a stage attempt's log. */
export function logPathFor(runId: string, stage: string, attempt: number): string {
  return `logs/${runId}/${stage}/${attempt}.log`;
}
