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
export { assertDurableName, assertKey, assertPool, assertPrefix, poolName } from "./names.js";
export { MemoryKvStore } from "./memory-kv.js";
export { FileKvStore } from "./file-kv.js";
export { MemoryJobQueue } from "./memory-job-queue.js";
export { MemoryEventLog } from "./memory-event-log.js";
export { DEFAULT_DEDUPE_WINDOW_MS } from "./dedupe-window.js";
export { checkPools, positive } from "./checks.js";
export { kvClosedError } from "./kv.js";
export { Notifier, type PendingWait } from "./notifier.js";
