/**
 * Test-only surface of coordinator/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { runMessage } from "./api/run-message.js";
export { createStagefarmApi } from "./api/stagefarm-api.js";
export { KeyedWriteQueue } from "./binhost/write-queue.js";
export { EventHub, RING_SIZE } from "./dashboard/event-hub.js";
export { LiveLogs, TAIL_BYTES } from "./dashboard/live-logs.js";
export { parseRange } from "./dashboard/log-routes.js";
export { PipelineList, type PipelineListJson } from "./dashboard/pipeline-list.js";
export { buildRun, buildStage, type RunShape, shapeOf } from "./dashboard/run-view.js";
export { dispatchesOf, type DispatchRecord } from "./dispatch/dispatch-record.js";
export { LeaseTable, leaseTimes } from "./dispatch/lease-table.js";
export { MessageGuard, type RejectReason } from "./dispatch/message-guard.js";
export { mayRetry } from "./engine/failure-policy.js";
export { reproDocSchema, verdictOf } from "./repro/verdict.js";
export { nextStageDoc, stageDocOf, runDocSchema } from "./service/run-doc.js";
export { interrupted } from "./service/run-history.js";
export { ObjectStatsStore, statsStoreFor, FsStatsStore } from "./stats/stats-store.js";
export { executeRun, startRun } from "./engine/run-engine.js";
export type { MetricsLimits } from "./metrics.js";
export { type HttpServerDeps, type HttpServerHandle } from "./http-server.js";
export { SubmissionParser, type SubmissionLimits } from "./submission/parse-submission.js";
export { pipelineLabel } from "./submission/pipeline-label.js";
export { AgentRegistry } from "./dispatch/agent-registry.js";
export { DispatchWorker } from "./dispatch/dispatch-worker.js";
export { percentile } from "./stats/stage-stats.js";
export { recentRunRoots } from "./cache/gc-roots.js";

export { defaultRetryBackoffMs } from "./engine/failure-policy.js";
export { dispatchRecordSchema } from "./dispatch/dispatch-record.js";
export { DispatchRecords } from "./dispatch/dispatch-records.js";
export { KeyedLanes } from "./dispatch/keyed-lanes.js";
