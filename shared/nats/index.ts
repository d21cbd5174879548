/**
 * NATS JetStream implementations of the ports (`shared/ports/`) and the connection helpers:
 * connect with logged reconnects, idempotent stream/consumer/bucket set-up.
 */
export {
  connectNats,
  parseNatsUrl,
  redactNatsUrl,
  type NatsConnectOptions,
  type NatsUrl,
} from "./connect.js";
export { ensureConsumer, ensureKv, ensureStream, type ConsumerSpec, type StreamSpec } from "./ensure.js";
export { fromNats } from "./errors.js";
export {
  DEFAULT_PREFIX,
  eventStreamName,
  eventSubjectPrefix,
  jobConsumerName,
  jobStreamName,
  jobSubject,
} from "./names.js";
export { NatsKvStore, type NatsKvStoreOptions } from "./nats-kv-store.js";
export { NatsJobQueue, type NatsJobQueueOptions } from "./nats-job-queue.js";
export { NatsEventLog, type NatsEventLogOptions } from "./nats-event-log.js";
