/**
 * Which runner kinds this agent can run. The executor looks a stage's runner up here; a kind
 * the agent lacks is a clear error, not a crash.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { RunnerKind } from "../../shared/pipeline/index.js";
import { createCatalystRunner, type CatalystRunnerOptions } from "./catalyst.js";
import { createChrootRunner, type ChrootRunnerOptions } from "./chroot.js";
import { createEmergeRunner, type EmergeRunnerOptions } from "./emerge.js";
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

export type DefaultRunnerOptions = ShellRunnerOptions &
  FetchRunnerOptions &
  ChrootRunnerOptions &
  EmergeRunnerOptions &
  CatalystRunnerOptions;

/**
 * Every runner kind. fetch and shell run anywhere; chroot and emerge need root and util-linux's
 * unshare/setpriv (agents labelled `chroot`); catalyst needs Catalyst installed (agents labelled
 * `catalyst`). A stage reaches an agent only through its `requires` labels, and a runner whose
 * tool is missing fails the stage with a clear error, never the agent.
 */
export function defaultRunners(opts: DefaultRunnerOptions = {}): Runner[] {
  return [
    createFetchRunner(opts),
    createShellRunner(opts),
    createChrootRunner(opts),
    createEmergeRunner(opts),
    createCatalystRunner(opts),
  ];
}
