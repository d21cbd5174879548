/**
 * The agent's public surface, what cli/ wires: the stage executor with the default runners, the
 * agent service, its metrics and HTTP server, the farm binhost client and the label tool check.
 * Names only tests use are in testing.ts (docs/architecture.md, "Public surfaces").
 */
export { StageExecutor } from "./executor.js";
export { defaultRunners } from "./runners/index.js";
export type { BinhostClient } from "./runners/index.js";
export type { Runner } from "./runners/index.js";
export { AgentService } from "./service/agent-service.js";
export type { AgentMetrics } from "./metrics.js";
export { createAgentMetrics } from "./create-metrics.js";
export { diskFreeBytes } from "./disk-free.js";
export { meteredStore } from "./metered-store.js";
export { startAgentHttpServer, type AgentHttpHandle } from "./metrics-server.js";
export { labelsWithTools } from "./prerequisites.js";
export { FarmBinhostClient, busBinhostTransport, type BinhostTransport } from "./binhost-client.js";
