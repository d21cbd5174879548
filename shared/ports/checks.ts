/** Argument checks shared by the port implementations. */
import { StagefarmError } from "../errors.js";
import { assertPool } from "./names.js";

/** Validates the pools of a consumer and drops repeats, keeping their order. */
export function checkPools(pools: readonly string[]): string[] {
  if (pools.length === 0) throw new StagefarmError("invalid_argument", "consume needs at least one pool");
  for (const pool of pools) assertPool(pool);
  return [...new Set(pools)];
}

/** Returns `value` when it is a positive integer, else throws `invalid_argument` naming `what`. */
export function positive(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new StagefarmError("invalid_argument", `${what} must be a positive integer, got ${value}`);
  return value;
}
