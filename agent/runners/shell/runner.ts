/**
 * The `shell` runner: runs the stage's script with `bash -e -o pipefail` in the workspace, in
 * its own process group (see ../process-group.ts), with an environment made only of the
 * stage's env and a minimal base (../common/script-env.ts). The script is written to the workspace's
 * private area; its output goes to the stage log as produced. With limits, bash starts inside
 * the stage's cgroup (../cgroup-scope.ts).
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { StagefarmError } from "../../../shared/errors.js";
import { assertConfined, confine } from "../../cgroup-scope.js";
import { runInProcessGroup } from "../../process-group.js";
import { privatePath } from "../../workspace.js";
import {
  LogTail,
  checkScriptOutcome,
  scriptEnv,
  type Runner,
  type RunnerContext,
  type RunnerResult,
} from "../common/index.js";

export interface ShellRunnerOptions {
  /** Time between SIGTERM and SIGKILL when a script is cancelled or times out (default 5 s). */
  killGraceMs?: number;
}

export function createShellRunner(opts: ShellRunnerOptions = {}): Runner<"shell"> {
  return {
    kind: "shell",
    run: (ctx) => runShell(ctx, opts),
  };
}

async function runShell(ctx: RunnerContext, opts: ShellRunnerOptions): Promise<RunnerResult> {
  const { stage, workspace } = ctx;
  if (stage.script === undefined || stage.script.trim() === "")
    throw new StagefarmError("invalid_pipeline", `stage "${stage.name}" (runner shell) has no script`);
  const tmpDir = privatePath(workspace, "tmp");
  const scriptPath = privatePath(workspace, "script.sh");
  await mkdir(tmpDir, { recursive: true });
  await writeFile(scriptPath, stage.script.endsWith("\n") ? stage.script : `${stage.script}\n`);
  await chmod(scriptPath, 0o755);

  const tail = new LogTail();
  const cmd = confine("/bin/bash", ["-e", "-o", "pipefail", scriptPath]);
  const outcome = await runInProcessGroup(cmd.file, cmd.args, {
    cwd: workspace,
    env: scriptEnv(stage, { workspace, tmpDir, jobs: ctx.jobs }),
    signal: ctx.signal,
    timeoutMs: stage.timeoutMs,
    killGraceMs: opts.killGraceMs,
    onOutput: (chunk) => {
      ctx.log.write(chunk);
      tail.push(chunk);
    },
  });
  await assertConfined(cmd, outcome, `stage "${stage.name}"`);
  checkScriptOutcome(stage.name, outcome, { timeoutMs: stage.timeoutMs, logTail: tail.lines(30) });
  return {};
}
