/**
 * Test-only surface of shared/nats/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { parseNatsUrl, redactNatsUrl, type NatsConnectOptions } from "./connect.js";
export { parseNatsCredentials, type NatsAuth } from "./credentials.js";
export { ensureStream } from "./ensure.js";
export { eventStreamName, jobConsumerName, jobStreamName } from "./names.js";
export { agentPermissions, coordinatorPermissions } from "./permissions.js";
