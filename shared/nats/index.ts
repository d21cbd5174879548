/**
 * NATS JetStream implementations of the ports (`shared/ports/`) and the connection helpers:
 * connect (credentials, TLS) with logged reconnects, idempotent stream/consumer/bucket set-up,
 * the farm users' permissions.
 */
export { connectNats } from "./connect.js";
export { checkNatsTlsFiles, createNkeyUser, readNatsCredentials, type NatsTlsFiles } from "./credentials.js";
export { kvBucketName } from "./names.js";
export { natsUserBlock, type NatsUser } from "./permissions.js";
export { NatsKvStore } from "./nats-kv-store.js";
export { NatsJobQueue } from "./nats-job-queue.js";
export { NatsEventLog } from "./nats-event-log.js";
export { isNatsOutageFailure, OutageTolerantKv } from "./outage-kv.js";
export { fromNats } from "./errors.js";
