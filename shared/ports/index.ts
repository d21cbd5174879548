/**
 * The ports the coordinator and agents share in both modes: KV state, the job queue and the
 * event log (interfaces and their in-process implementations). The NATS JetStream
 * implementations live in `shared/nats/`.
 */
export { KvConflictError, type KvChange, type KvEntry, type KvStore } from "./kv.js";
export type { ConsumeOptions, JobQueue, PublishOptions, QueueMessage } from "./job-queue.js";
export {
  DEFAULT_EVENT_MAX_AGE_MS,
  type AppendOptions,
  type EventLog,
  type LoggedEvent,
} from "./event-log.js";
export {
  ANY_POOL,
  assertDurableName,
  assertKey,
  assertPool,
  assertPrefix,
  isBelow,
  poolName,
} from "./names.js";
export { MemoryKvStore } from "./memory-kv.js";
export { FileKvStore } from "./file-kv.js";
export { DEFAULT_ACK_WAIT_MS, MemoryJobQueue, type MemoryJobQueueOptions } from "./memory-job-queue.js";
export { MemoryEventLog, type MemoryEventLogOptions } from "./memory-event-log.js";
export { DEFAULT_DEDUPE_WINDOW_MS } from "./dedupe-window.js";
export { Notifier, type PendingWait } from "./notifier.js";
