/**
 * NATS JetStream implementations of the ports (`shared/ports/`) and the connection helpers:
 * connect (credentials, TLS) with logged reconnects, idempotent stream/consumer/bucket set-up,
 * the farm users' permissions.
 */
export {
  connectNats,
  parseNatsUrl,
  redactNatsUrl,
  type NatsConnectOptions,
  type NatsUrl,
} from "./connect.js";
export {
  checkNatsTlsFiles,
  createNkeyUser,
  describeNatsAuth,
  parseNatsCredentials,
  readNatsCredentials,
  type NatsAuth,
  type NatsTlsFiles,
} from "./credentials.js";
export {
  ensureConsumer,
  ensureKv,
  ensureStream,
  waitForStream,
  type ConsumerSpec,
  type StreamSpec,
} from "./ensure.js";
export { fromNats } from "./errors.js";
export {
  DEFAULT_PREFIX,
  eventStreamName,
  eventSubjectPrefix,
  jobConsumerName,
  jobStreamName,
  jobSubject,
  kvBucketName,
  kvStreamName,
} from "./names.js";
export {
  agentPermissions,
  coordinatorPermissions,
  natsUserBlock,
  type NatsPermissions,
  type NatsUser,
} from "./permissions.js";
export { NatsKvStore, type NatsKvStoreOptions } from "./nats-kv-store.js";
export { NatsJobQueue, type NatsJobQueueOptions } from "./nats-job-queue.js";
export { NatsEventLog, type NatsEventLogOptions } from "./nats-event-log.js";
export { isNatsOutageFailure, OutageTolerantKv } from "./outage-kv.js";
