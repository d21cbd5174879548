import type { AgentMetrics, AgentMetricsOptions } from "./metrics.js";

/** Creates an agent's metrics, loading prom-client only for agents that serve /metrics. */
export async function createAgentMetrics(opts: AgentMetricsOptions): Promise<AgentMetrics> {
  const { AgentMetrics } = await import("./metrics.js");
  return new AgentMetrics(opts);
}
