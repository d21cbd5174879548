import type { CoordinatorMetrics } from "./metrics.js";

/** Creates the coordinator's metrics, loading prom-client only for processes that serve /metrics. */
export async function createMetrics(): Promise<CoordinatorMetrics> {
  const { CoordinatorMetrics } = await import("./metrics.js");
  return new CoordinatorMetrics();
}
