import type { CoordinatorMetrics, MetricsLimits } from "./metrics.js";

/** Creates the coordinator's metrics, loading prom-client only for processes that serve /metrics. */
export async function createMetrics(
  opts: { limits?: Partial<MetricsLimits>; now?: () => number } = {},
): Promise<CoordinatorMetrics> {
  const { CoordinatorMetrics } = await import("./metrics.js");
  return new CoordinatorMetrics(opts);
}
