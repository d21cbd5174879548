/** Public surface of the coordinator: the run engine, its events and state, metrics. */
export {
  executeRun,
  startRun,
  type RunHandle,
  type RunEngineDeps,
  type RunRequest,
  type RunResult,
  type EngineMetrics,
  type StoreGate,
} from "./engine/run-engine.js";
export { StoreProbe, type StoreProbeOptions } from "./store-health.js";
export type { RunEvent, RunEventListener } from "./engine/events.js";
export {
  countStages,
  isTerminal,
  outputsOf,
  type RunOutcome,
  type StageCounts,
  type StageStatus,
  type StageStateName,
} from "./engine/stage-state.js";
export { lookupCache } from "./engine/cache-lookup.js";
export type { CoordinatorMetrics, MetricsLimits, WaitingReason } from "./metrics.js";
export { createMetrics } from "./create-metrics.js";
export { newRunId } from "./run-id.js";
export { RunRegistry, type RunRecord, type RunSource } from "./run-registry.js";
export { INTERRUPTED_MESSAGE, pruneRuns, settleRunHistory } from "./service/run-history.js";
export { startHttpServer, type HttpServerDeps, type HttpServerHandle } from "./http-server.js";
export { planRun, type CacheLookup, type Plan, type PlanRow } from "./plan.js";
export { expectedDuration, type ExpectedDuration } from "./history.js";
export { Coordinator, type CoordinatorOptions } from "./service/coordinator.js";
export {
  SubmissionParser,
  DEFAULT_SUBMISSION_LIMITS,
  type SubmissionLimits,
} from "./submission/parse-submission.js";
export { pipelineLabel } from "./submission/pipeline-label.js";
export { NamedPipelines, type NamedPipeline } from "./submission/named-pipelines.js";
export { runDocSchema, type RunDoc, type StageDoc } from "./service/run-doc.js";
export type { ReproDoc, ReproState } from "./repro/verdict.js";
export type { ReproSubmission } from "./repro/repro-request.js";
export { AgentRegistry, type AgentInfo, type AgentState } from "./dispatch/agent-registry.js";
export { DispatchWorker } from "./dispatch/dispatch-worker.js";
export { dispatchRecordSchema, stageKey, type DispatchRecord } from "./dispatch/dispatch-record.js";
export type { ApiDeps } from "./api/stagefarm-api.js";
export { loadStagefarmApi } from "./api/load.js";
export {
  BinhostService,
  type BinhostServiceOptions,
  type BinhostSummary,
  type BinhostDetails,
  type BinhostPackageInfo,
  type BinhostGcReport,
  type RemoveReport,
  type SettingsPatch,
} from "./binhost/binhost-service.js";
export type { BinhostSettings, PackageRecord } from "./binhost/meta.js";
export { ReleaseService, releaseSources, type ReleaseServiceDeps } from "./releases/index.js";
export type { GcCandidate } from "./binhost/gc-plan.js";
export { serveBinhost, parseBinhostUrlPath, type BinhostHttpOptions } from "./binhost/http.js";
export { renderBinreposConf } from "./binhost/binrepos-conf.js";
export { startBinhostServer, type BinhostServerHandle } from "./binhost/binhost-server.js";
export {
  expectedCriticalPath,
  loadStatsReports,
  percentile,
  type ExpectedCriticalPath,
  type PipelineStatsReport,
  type StageStatsRow,
} from "./stats/stage-stats.js";
export { runEta, type EtaStage, type RunEta } from "../shared/pipeline/index.js";
export { statsStoreFor, FsStatsStore, type StatsStore } from "./stats/stats-store.js";
export type { PipelineStats, StageOutcome } from "./stats/stats-record.js";
export {
  findEntries,
  listEntries,
  MAX_CACHE_KEYS,
  lookupEntries,
  removeEntries,
  type EntryFilter,
} from "./cache/cache-entries.js";
export {
  DEFAULT_KEEP_RUNS_FOR_MS,
  farmGcRoots,
  recentRunRoots,
  releaseRoots,
  runReferences,
} from "./cache/gc-roots.js";
export { expectationOf } from "./api/release-api.js";
