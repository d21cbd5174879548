/**
 * The agent's public surface: the stage executor, the runner port and registry, the built-in
 * runners, and the pieces other runners build on (process groups, pinned-source fetching).
 */
export { StageExecutor } from "./executor.js";
export { defaultRunners } from "./runners/registry.js";
export type { BinhostClient } from "./runners/binhost-seam.js";
export type { Runner } from "./runners/types.js";
export { AgentService } from "./service/agent-service.js";
export type { AgentMetrics } from "./metrics.js";
export { createAgentMetrics } from "./create-metrics.js";
export { diskFreeBytes } from "./disk-free.js";
export { meteredStore } from "./metered-store.js";
export { startAgentHttpServer, type AgentHttpHandle } from "./metrics-server.js";
export { labelsWithTools } from "./prerequisites.js";
export { FarmBinhostClient, busBinhostTransport, type BinhostTransport } from "./binhost-client.js";
