/**
 * Which runner kinds this agent can run. The executor looks a stage's runner up here; kinds
 * the agent lacks (chroot/emerge/catalyst on a plain host) are a clear error, not a crash.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { RunnerKind } from "../../shared/pipeline/types.js";
import { createFetchRunner, type FetchRunnerOptions } from "./fetch.js";
import { createShellRunner, type ShellRunnerOptions } from "./shell.js";
import type { Runner } from "./types.js";

export interface RunnerRegistry {
  /** The runner for `kind`; throws `invalid_argument` when this agent has none. */
  get(kind: RunnerKind): Runner;
  kinds(): RunnerKind[];
}

export function createRunnerRegistry(runners: readonly Runner[]): RunnerRegistry {
  const byKind = new Map<RunnerKind, Runner>();
  for (const r of runners) {
    if (byKind.has(r.kind))
      throw new StagefarmError("invalid_argument", `two runners registered for kind ${r.kind}`);
    byKind.set(r.kind, r);
  }
  return {
    get(kind) {
      const r = byKind.get(kind);
      if (!r) {
        const have = [...byKind.keys()].join(", ") || "none";
        throw new StagefarmError(
          "invalid_argument",
          `no runner for kind ${kind} on this agent (it has: ${have})`,
        );
      }
      return r;
    },
    kinds: () => [...byKind.keys()],
  };
}

/** The runners every agent has: fetch and shell. */
export function defaultRunners(opts: ShellRunnerOptions & FetchRunnerOptions = {}): Runner[] {
  return [createFetchRunner(opts), createShellRunner(opts)];
}
