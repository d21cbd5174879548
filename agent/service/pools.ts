import { StagefarmError } from "../../shared/errors.js";
import { poolName } from "../../shared/ports/index.js";

const MAX_LABELS = 8;

/**
 * Every pool an agent with these labels can serve: one per subset of its labels (a stage's
 * pool is the set of labels it requires). Bounded: at most 2^8 pools.
 */
export function poolsFor(labels: readonly string[]): string[] {
  const uniq = [...new Set(labels)].sort();
  if (uniq.length > MAX_LABELS)
    throw new StagefarmError(
      "invalid_argument",
      `an agent may have at most ${MAX_LABELS} labels, got ${uniq.length}`,
    );
  const pools: string[] = [];
  for (let mask = 0; mask < 1 << uniq.length; mask++)
    pools.push(poolName(uniq.filter((_, i) => (mask & (1 << i)) !== 0)));
  return pools;
}
