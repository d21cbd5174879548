/** Public surface of the coordinator: the run engine, its events and state, metrics. */
export {
  executeRun,
  type RunEngineDeps,
  type RunRequest,
  type RunResult,
  type EngineMetrics,
} from "./engine/run-engine.js";
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
export type { CoordinatorMetrics } from "./metrics.js";
export { createMetrics } from "./create-metrics.js";
export { newRunId } from "./run-id.js";
export { RunRegistry, type RunRecord } from "./run-registry.js";
export { startHttpServer, type HttpServerDeps, type HttpServerHandle } from "./http-server.js";
export { planRun, type Plan, type PlanRow } from "./plan.js";
export { loadStageHistory, expectedDuration, median, type StageHistory } from "./history.js";
export { Coordinator, type CoordinatorOptions } from "./service/coordinator.js";
export { runDocSchema, type RunDoc, type StageDoc } from "./service/run-doc.js";
export { AgentRegistry, type AgentInfo, type AgentState } from "./dispatch/agent-registry.js";
export { DispatchWorker } from "./dispatch/dispatch-worker.js";
export { dispatchRecordSchema, stageKey, type DispatchRecord } from "./dispatch/dispatch-record.js";
export type { ApiDeps } from "./api/stagefarm-api.js";
export { loadStagefarmApi } from "./api/load.js";
