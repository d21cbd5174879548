/**
 * Public surface of the coordinator, what cli/ wires: the distributed Coordinator and the API,
 * the HTTP servers, run history and registry, plans and stats, binhosts, releases and the cache.
 * Names only tests use are in testing.ts (docs/architecture.md, "Public surfaces").
 */
export { type RunResult } from "./engine/run-engine.js";
export { StoreProbe } from "./store-health.js";
export type { RunEvent, RunEventListener } from "./engine/events.js";
export { countStages, type StageStatus } from "./engine/stage-state.js";
export type { CoordinatorMetrics } from "./metrics.js";
export { createMetrics } from "./create-metrics.js";
export { newRunId } from "./run-id.js";
export { RunRegistry } from "./run-registry.js";
export { pruneRuns, settleRunHistory } from "./service/run-history.js";
export { startHttpServer } from "./http-server.js";
export { planRun, type CacheLookup } from "./plan.js";
export { expectedDuration } from "./history.js";
export { Coordinator } from "./service/coordinator.js";
export { DEFAULT_SUBMISSION_LIMITS } from "./submission/parse-submission.js";
export { NamedPipelines } from "./submission/named-pipelines.js";
export { type RunDoc } from "./service/run-doc.js";
export type { ReproDoc } from "./repro/verdict.js";
export type { ReproSubmission } from "./repro/repro-request.js";
export { loadStagefarmApi } from "./api/load.js";
export {
  BinhostService,
  type BinhostSummary,
  type BinhostDetails,
  type BinhostGcReport,
  type RemoveReport,
  type SettingsPatch,
} from "./binhost/binhost-service.js";
export type { BinhostSettings } from "./binhost/meta.js";
export { ReleaseService, releaseSources } from "./releases/index.js";
export { renderBinreposConf } from "./binhost/binrepos-conf.js";
export { startBinhostServer, type BinhostServerHandle } from "./binhost/binhost-server.js";
export {
  expectedCriticalPath,
  loadStatsReports,
  type ExpectedCriticalPath,
  type PipelineStatsReport,
  type StageStatsRow,
} from "./stats/stage-stats.js";
export {
  findEntries,
  listEntries,
  MAX_CACHE_KEYS,
  lookupEntries,
  removeEntries,
} from "./cache/cache-entries.js";
export { releaseRoots } from "./cache/gc-roots.js";
export { expectationOf } from "./api/release-api.js";
