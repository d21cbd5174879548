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
export { createFetchRunner, type FetchRunnerOptions } from "./runners/fetch.js";
export { createShellRunner, type ShellRunnerOptions } from "./runners/shell.js";
export {
  createRunnerRegistry,
  defaultRunners,
  type DefaultRunnerOptions,
  type RunnerRegistry,
} from "./runners/registry.js";
export { createChrootRunner, type ChrootRunnerOptions } from "./runners/chroot.js";
export { runInChroot, type ChrootExecOptions } from "./runners/chroot-exec.js";
export { createEmergeRunner, type EmergeRunnerOptions } from "./runners/emerge.js";
export { collectBinpkgs, snapshotPkgdir } from "./runners/binpkgs.js";
export type { BinhostClient } from "./runners/binhost-seam.js";
export { createCatalystRunner, type CatalystRunnerOptions } from "./runners/catalyst.js";
export {
  scriptEnv,
  clampMtimeFor,
  DEFAULT_SOURCE_DATE_EPOCH,
  type ScriptEnvOptions,
} from "./runners/script-env.js";
export { checkScriptOutcome } from "./runners/script-outcome.js";
export type { LogSink, Runner, RunnerContext, RunnerResult } from "./runners/types.js";
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
