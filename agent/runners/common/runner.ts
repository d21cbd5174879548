/**
 * The runner port (agent side). A runner turns one resolved stage, with its inputs already
 * placed in a fresh workspace, into files at the declared output paths. The executor
 * (agent/executor.ts) owns everything around it: the workspace, input placement, output
 * packing and upload, logs, and removal of the workspace afterwards.
 */
import type { Logger } from "pino";
import type { ArtifactStore } from "../../../shared/store/index.js";
import type { ResolvedStage, RunnerKind } from "../../../shared/pipeline/index.js";

/** Where a runner writes its log output. Lines are prefixed and streamed by the executor. */
export interface LogSink {
  write(chunk: string | Uint8Array): void;
}

export interface RunnerContext {
  stage: ResolvedStage;
  /** Absolute path of the fresh workspace holding the placed inputs. */
  workspace: string;
  store: ArtifactStore;
  signal: AbortSignal;
  log: LogSink;
  logger: Logger;
  /** Parallel build slots granted to this stage (MAKEOPTS/--jobs). */
  jobs: number;
}

/** What a runner hands back: output files produced outside the workspace-relative output paths. */
export interface RunnerResult {
  /** Outputs the runner stored itself (e.g. fetch), by name; the executor packs the rest. */
  stored?: Record<string, { digest: string; size: number; kind: "tree" | "file" }>;
}

export interface Runner<K extends RunnerKind = RunnerKind> {
  readonly kind: K;
  run(ctx: RunnerContext): Promise<RunnerResult>;
}
