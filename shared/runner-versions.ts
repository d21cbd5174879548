import type { RunnerKind } from "./pipeline/index.js";

/**
 * The version of each runner's behaviour, part of every cache key. Bump a runner's version when
 * a change to it can change what a stage produces; every key of that kind changes with it.
 * Lives in shared/ because the coordinator computes keys and the agent runs the runners.
 */
export const RUNNER_VERSIONS: Readonly<Record<RunnerKind, string>> = {
  fetch: "1",
  shell: "1",
  chroot: "1",
  // 2: jobs as emerge arguments (make.conf's EMERGE_DEFAULT_OPTS applies), the binhost stanza removed.
  emerge: "2",
  // 2: `%` written as `%%`, the seed placed by its content, git-archive snapshots packed by the runner.
  catalyst: "2",
};
