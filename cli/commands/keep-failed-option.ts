/** `--keep-failed-workspaces`, of `stagefarm agent`, `run` and `up` (agent/executor.ts). */
import { Option } from "commander";

export function keepFailedWorkspacesOption(): Option {
  return new Option(
    "--keep-failed-workspaces",
    "keep a failed stage's workspace for inspection (its path is logged and in the stage's error); " +
      "no sweep removes it: remove it by hand",
  );
}
