/** Test-only surface of coordinator/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { runMessage } from "./api/run-message.js";
export { createStagefarmApi } from "./api/stagefarm-api.js";
export { KeyedWriteQueue } from "./binhost/write-queue.js";
export { EventHub, RING_SIZE } from "./dashboard/event-hub.js";
export { httpStatusFor } from "./dashboard/http-util.js";
export { LiveLogs, TAIL_BYTES } from "./dashboard/live-logs.js";
export { parseRange } from "./dashboard/log-routes.js";
export { PipelineList, type PipelineListJson } from "./dashboard/pipeline-list.js";
export { buildRun, buildStage, type RunShape, shapeOf } from "./dashboard/run-view.js";
export { dispatchesOf } from "./dispatch/dispatch-record.js";
export { LeaseTable, leaseTimes } from "./dispatch/lease-table.js";
export { MessageGuard, type RejectReason } from "./dispatch/message-guard.js";
export { mayRetry } from "./engine/failure-policy.js";
export { reproDocSchema, verdictOf } from "./repro/verdict.js";
export { nextStageDoc, stageDocOf } from "./service/run-doc.js";
export { interrupted } from "./service/run-history.js";
export { ObjectStatsStore } from "./stats/stats-store.js";
