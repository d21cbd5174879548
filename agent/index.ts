/**
 * The agent's public surface: the stage executor, the runner port and registry, the built-in
 * runners, and the pieces other runners build on (process groups, pinned-source fetching).
 */
export { StageExecutor, type StageExecutorDeps } from "./executor.js";
export { fetchToStore, type FetchOptions } from "./fetch-source.js";
export {
  killProcessGroup,
  runInProcessGroup,
  type ProcessGroupOptions,
  type ProcessOutcome,
} from "./process-group.js";
export { createFetchRunner, type FetchRunnerOptions } from "./runners/index.js";
export { createShellRunner, type ShellRunnerOptions } from "./runners/index.js";
export {
  createRunnerRegistry,
  defaultRunners,
  type DefaultRunnerOptions,
  type RunnerRegistry,
} from "./runners/index.js";
export { createChrootRunner, type ChrootRunnerOptions } from "./runners/index.js";
export { runInChroot, type ChrootExecOptions } from "./runners/index.js";
export { createEmergeRunner, type EmergeRunnerOptions } from "./runners/index.js";
export { collectBinpkgs, snapshotPkgdir } from "./runners/index.js";
export type { BinhostClient } from "./runners/index.js";
export { createCatalystRunner, type CatalystRunnerOptions } from "./runners/index.js";
export {
  scriptEnv,
  clampMtimeFor,
  DEFAULT_SOURCE_DATE_EPOCH,
  type ScriptEnvOptions,
} from "./runners/index.js";
export { checkScriptOutcome } from "./runners/index.js";
export type { LogSink, Runner, RunnerContext, RunnerResult } from "./runners/index.js";
export {
  AgentService,
  randomAgentId,
  type AgentServiceMetrics,
  type AgentServiceOptions,
  type ClaimResult,
  type StageEnd,
} from "./service/agent-service.js";
export type { AgentMetrics, AgentMetricsOptions, TransferDirection, TransferMetrics } from "./metrics.js";
export { createAgentMetrics } from "./create-metrics.js";
export { diskFreeBytes } from "./disk-free.js";
export { meteredStore } from "./metered-store.js";
export { startAgentHttpServer, type AgentHttpDeps, type AgentHttpHandle } from "./metrics-server.js";
export { poolsFor } from "./service/pools.js";
export {
  checkPrerequisites,
  labelsWithTools,
  MISSING_TOOLS_MODES,
  type MissingToolsMode,
  onPath,
  LABEL_TOOLS,
  type MissingTool,
  type PrerequisiteReport,
  type ToolNeed,
} from "./prerequisites.js";
export {
  FarmBinhostClient,
  busBinhostTransport,
  type BinhostTransport,
  type BusBinhostTransportOptions,
  type FarmBinhostClientOptions,
} from "./binhost-client.js";
