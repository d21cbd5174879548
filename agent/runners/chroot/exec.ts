/**
 * Runs a script inside a root directory (chroot) with the pseudo file systems a build needs,
 * and guarantees that nothing of the run outlives it: no mount, no process, no file of ours in
 * the root. Shared by the chroot and emerge runners.
 *
 * Protocol
 * - The process tree is `setpriv --pdeathsig KILL unshare --mount --propagation private --pid
 *   --fork --kill-child bash <setup>`, started by runInProcessGroup (its own process group,
 *   SIGTERM then SIGKILL on cancel and timeout). The setup script (./setup.ts) is pid 1
 *   of a new pid namespace in a new mount namespace: every mount it makes is private to that
 *   namespace, and the kernel drops them all when its last process exits. If the agent dies
 *   (even by SIGKILL), the parent-death signals kill unshare and then pid 1, and with pid 1
 *   every process of the namespace.
 * - Mount points are resolved inside the root (./paths.ts); the missing ones are created
 *   for the run and removed afterwards.
 * - The script and the resolv.conf content are written to a private directory under the OS
 *   temp dir (./run-dir.ts), never into the root; the setup script opens the script as
 *   fd 9 and deletes them before the stage's shell starts, which reads it through
 *   /proc/self/fd/9.
 * - The shell runs under `env -i` with exactly `env`, `umask 022`, cwd `/`, as a login shell
 *   when `login`; `set -e` (and pipefail where the shell has it) before the script.
 * - With limits (../cgroup-scope.ts), the process tree starts inside the stage's cgroup: the
 *   joining wrapper runs first and execs setpriv, so the namespaces, the mounts' helpers and
 *   the script are all confined.
 * - After the process ended, the caller waits until no process is left in the namespace (so no
 *   mount is left), then the created mount points and the private directory are removed.
 * - Returns the outcome like runInProcessGroup (never throws for a non-zero exit of the script).
 *   Throws `invalid_argument` for a root or shell that is not usable, and `internal` when the
 *   setup (mounting) failed before the script started, quoting its output.
 */
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../../../shared/errors.js";
import { assertConfined, confine } from "../../cgroup-scope.js";
import { runInProcessGroup, type ProcessOutcome } from "../../process-group.js";
import { exists } from "../../../shared/util/fs.js";
import {
  checkBinds,
  checkEnv,
  checkHostResolvConf,
  checkRoot,
  checkShell,
  HOST_RESOLV_CONF,
} from "./checks.js";
import { ensureMountpoint, removeCreated, type CreatedEntry } from "./paths.js";
import { awaitNamespaceGone, readIdentity } from "./namespace.js";
import { createRunDir } from "./run-dir.js";
import { setupScript, type ChrootBind, type SetupPlan } from "./setup.js";
import { LogTail, BASE_PATH } from "../common/index.js";

export interface ChrootExecOptions {
  /** Absolute host path of the root directory. */
  root: string;
  script: string;
  /** The complete environment inside the chroot (env -i semantics). */
  env: Record<string, string>;
  /** Run the script in a login shell (`-l`: /etc/profile and ~/.profile sourced). */
  login: boolean;
  dev: "minimal" | "devtmpfs";
  resolvConf: "host" | "none" | { content: string };
  binds: ChrootBind[];
  /** Absolute path inside the root of a bash-compatible shell. */
  shell: string;
  signal: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
  onOutput: (chunk: Uint8Array) => void;
}

export async function runInChroot(opts: ChrootExecOptions): Promise<ProcessOutcome> {
  if (opts.signal.aborted) throw new StagefarmError("cancelled", `chroot run in ${opts.root} was cancelled`);
  const root = await checkRoot(opts.root);
  checkEnv(opts.env);
  await checkShell(root, opts.shell);
  const binds = await checkBinds(opts.binds, opts.resolvConf !== "none");
  if (opts.resolvConf === "host") await checkHostResolvConf();

  const runDir = await createRunDir();
  const created: CreatedEntry[] = [];
  const initFile = join(runDir, "init");
  const startedFile = join(runDir, "started");
  try {
    const plan = await planMounts(root, opts, binds, runDir, created);
    const setupFile = join(runDir, "setup.sh");
    await writeFile(plan.scriptFile, opts.script.endsWith("\n") ? opts.script : `${opts.script}\n`, {
      mode: 0o600,
    });
    await writeFile(
      setupFile,
      setupScript({ ...plan, deleteFiles: [setupFile, ...plan.deleteFiles], initFile, startedFile }),
      { mode: 0o600 },
    );
    const tail = new LogTail(8 * 1024);
    const cmd = confine("setpriv", namespaceArgs(setupFile));
    const outcome = await runInProcessGroup(cmd.file, cmd.args, {
      cwd: "/",
      env: { PATH: BASE_PATH, LC_ALL: "C" },
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      killGraceMs: opts.killGraceMs,
      onOutput: (chunk) => {
        tail.push(chunk);
        opts.onOutput(chunk);
      },
    });
    await awaitGone(initFile);
    await assertConfined(cmd, outcome, `the chroot run in ${root}`);
    if (!outcome.cancelled && !outcome.timedOut && !(await exists(startedFile)))
      throw new StagefarmError(
        "internal",
        `could not set up the chroot ${root} (its namespace or mounts): ${tail.lines(10)}`,
        { details: { root, logTail: tail.lines(30) } },
      );
    return outcome;
  } finally {
    try {
      await awaitGone(initFile);
    } finally {
      await removeCreated(created);
      await rm(runDir, { recursive: true, force: true });
    }
  }
}

/** The command line under the process group: see the module comment. */
function namespaceArgs(setupFile: string): string[] {
  return [
    "--pdeathsig",
    "KILL",
    "--",
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--pid",
    "--fork",
    "--kill-child=SIGKILL",
    "--",
    "/bin/bash",
    setupFile,
  ];
}

async function awaitGone(initFile: string): Promise<void> {
  const init = await readIdentity(initFile);
  if (init) await awaitNamespaceGone(init);
}

type PlannedMounts = Omit<SetupPlan, "initFile" | "startedFile">;

async function planMounts(
  root: string,
  opts: ChrootExecOptions,
  binds: ChrootBind[],
  runDir: string,
  created: CreatedEntry[],
): Promise<PlannedMounts> {
  const proc = await ensureMountpoint(root, "/proc", "dir", created);
  const sys = await ensureMountpoint(root, "/sys", "dir", created);
  const dev = await ensureMountpoint(root, "/dev", "dir", created);
  const deleteFiles: string[] = [];
  let resolvConf: SetupPlan["resolvConf"];
  if (opts.resolvConf !== "none") {
    let source = HOST_RESOLV_CONF;
    if (typeof opts.resolvConf === "object") {
      source = join(runDir, "resolv.conf");
      await writeFile(source, opts.resolvConf.content, { mode: 0o644 });
      deleteFiles.push(source);
    }
    resolvConf = { source, target: await ensureMountpoint(root, "/etc/resolv.conf", "file", created) };
  }
  const hostBinds: ChrootBind[] = [];
  for (const b of binds) {
    const kind = (await stat(b.source)).isDirectory() ? "dir" : "file";
    hostBinds.push({ ...b, target: await ensureMountpoint(root, b.target, kind, created) });
  }
  return {
    root,
    proc,
    sys,
    dev,
    devMode: opts.dev,
    resolvConf,
    binds: hostBinds,
    scriptFile: join(runDir, "script"),
    deleteFiles,
    shell: opts.shell,
    login: opts.login,
    env: opts.env,
  };
}
