/**
 * The pools an agent serves: one per subset of its labels (a stage's pool is the set of labels
 * it `requires`, see `poolName`). Bounded: at most 8 labels, so at most 2^8 pools. Shared by the
 * agent (what it consumes) and the NATS permissions (what it may consume, ./permissions.ts).
 */
import { StagefarmError } from "../errors.js";
import { poolName } from "../ports/index.js";

export const MAX_AGENT_LABELS = 8;

/** Every pool an agent with these labels can serve. */
export function poolsFor(labels: readonly string[]): string[] {
  const uniq = [...new Set(labels)].sort();
  if (uniq.length > MAX_AGENT_LABELS)
    throw new StagefarmError(
      "invalid_argument",
      `an agent may have at most ${MAX_AGENT_LABELS} labels, got ${uniq.length}`,
    );
  const pools: string[] = [];
  for (let mask = 0; mask < 1 << uniq.length; mask++)
    pools.push(poolName(uniq.filter((_, i) => (mask & (1 << i)) !== 0)));
  return pools;
}
