/**
 * Host mode of the emerge runner: the plan's files are written into the workspace and the
 * agent's own emerge runs in its own process group.
 *
 * Everything written or handed to emerge as a path (config files, ROOT, SYSROOT,
 * PORTAGE_CONFIGROOT, PKGDIR, cwd) is checked by real path to stay inside the workspace, so a
 * placed tree holding `gentoo -> /` cannot make emerge install into the agent. emerge's build
 * directory (PORTAGE_TMPDIR) is in the workspace's private area unless the stage sets it.
 */
import { lstat, mkdir, realpath, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StagefarmError } from "../../../shared/errors.js";
import type { ResolvedStage } from "../../../shared/pipeline/index.js";
import { runInProcessGroup, type ProcessOutcome } from "../../process-group.js";
import { isInside, privatePath } from "../../workspace.js";
import { shownPath, type PlannedInvocation, type WriteOp } from "./plan.js";
import { scriptEnv } from "../common/index.js";
import { exists } from "../../../shared/util/fs.js";

/** Throws `unsafe_archive` unless what exists of `abs` (following symlinks) is inside `base`. */
export async function checkConfined(
  base: string,
  abs: string,
  what: string,
  baseName: string,
): Promise<void> {
  const realBase = await realpath(base);
  if (!isInside(base, abs))
    throw new StagefarmError("unsafe_archive", `${what}: ${abs} is outside the ${baseName}`);
  for (let p = abs; ; p = dirname(p)) {
    let real: string;
    try {
      real = await realpath(p);
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      if (e.code !== "not_found" || dirname(p) === p) throw e;
      // A dangling symlink is as bad as one leading out: its target is not ours to create.
      if (await isSymlink(p))
        throw new StagefarmError("unsafe_archive", `${what}: ${p} is a dangling symlink`, { cause: err });
      continue;
    }
    if (!isInside(realBase, real))
      throw new StagefarmError(
        "unsafe_archive",
        `${what}: ${abs} leads outside the ${baseName} (${p} resolves to ${real})`,
      );
    return;
  }
}

async function isSymlink(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isSymbolicLink();
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Carries out `ops` in the workspace; calls `log` once per file written. */
export async function applyWritesOnHost(
  ops: readonly WriteOp[],
  workspace: string,
  stageName: string,
  log: (line: string) => void,
): Promise<void> {
  const mode = { t: "host", workspace } as const;
  const what = `stage "${stageName}" portage configuration`;
  const confine = (p: string): Promise<void> => checkConfined(workspace, p, what, "workspace");
  const put = async (path: string, content: string): Promise<void> => {
    await confine(path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: 0o644 });
    log(`wrote ${shownPath(mode, path)}`);
  };
  for (const op of ops) {
    switch (op.t) {
      case "file": {
        await confine(op.path);
        const into = op.intoDir !== undefined && (await isDirectory(op.path));
        await put(into && op.intoDir !== undefined ? join(op.path, op.intoDir) : op.path, op.content);
        break;
      }
      case "link":
        await confine(dirname(op.path));
        await mkdir(dirname(op.path), { recursive: true });
        await rm(op.path, { recursive: true, force: true });
        await symlink(op.target, op.path);
        log(`linked ${shownPath(mode, op.path)} -> ${op.target}`);
        break;
      case "dir":
        await confine(dirname(op.path));
        await mkdir(dirname(op.path), { recursive: true });
        await rm(op.path, { recursive: true, force: true });
        await mkdir(op.path);
        for (const [name, content] of Object.entries(op.files)) await put(join(op.path, name), content);
        break;
      case "remove":
        await confine(dirname(op.path));
        if ((await isSymlink(op.path)) || (await exists(op.path))) {
          await rm(op.path, { force: true });
          log(`removed ${shownPath(mode, op.path)}`);
        }
        break;
      case "conf-dir": {
        await confine(dirname(op.path));
        let existing: "none" | "dir" | "other" = "none";
        try {
          existing = (await lstat(op.path)).isDirectory() ? "dir" : "other";
        } catch (err: unknown) {
          if (StagefarmError.from(err).code !== "not_found") throw StagefarmError.from(err);
        }
        if (existing === "other") {
          const tmp = `${op.path}.stagefarm-tmp`;
          await rename(op.path, tmp);
          await mkdir(op.path);
          await rename(tmp, join(op.path, op.keepFileAs));
          log(
            `moved the file ${shownPath(mode, op.path)} to ${shownPath(mode, join(op.path, op.keepFileAs))}`,
          );
        }
        await mkdir(op.path, { recursive: true });
        break;
      }
    }
  }
}

export interface HostRunOptions {
  stage: ResolvedStage;
  workspace: string;
  jobs: number;
  signal: AbortSignal;
  timeoutMs: number | undefined;
  killGraceMs: number | undefined;
  onOutput: (chunk: Uint8Array) => void;
}

function defaultPortageTmpdir(workspace: string): string {
  return privatePath(workspace, "portage-tmp");
}

/** The complete environment of a host-mode process: the script base, then the plan's env. */
function hostEnv(env: Record<string, string>, o: HostRunOptions): Record<string, string> {
  const tmpDir = privatePath(o.workspace, "tmp");
  return {
    ...scriptEnv(o.stage, { workspace: o.workspace, tmpDir, jobs: o.jobs }),
    PORTAGE_TMPDIR: defaultPortageTmpdir(o.workspace),
    ...env,
  };
}

/** Runs one planned invocation on the host after checking every path it writes through. */
export async function runInvocationOnHost(
  inv: PlannedInvocation,
  o: HostRunOptions,
): Promise<ProcessOutcome> {
  const what = `stage "${o.stage.name}" emerge invocation ${inv.index}/${inv.total}`;
  const env = hostEnv(inv.env, o);
  for (const name of ["ROOT", "SYSROOT", "PORTAGE_CONFIGROOT", "PKGDIR"] as const) {
    const v = env[name];
    if (v !== undefined) await checkConfined(o.workspace, v, `${what} ${name}`, "workspace");
  }
  await checkConfined(o.workspace, inv.cwd, `${what} cwd`, "workspace");
  const root = env["ROOT"];
  if (root !== undefined) await mkdir(root, { recursive: true });
  // Our default build directory; one the stage sets is its own business.
  if (env["PORTAGE_TMPDIR"] === defaultPortageTmpdir(o.workspace))
    await mkdir(defaultPortageTmpdir(o.workspace), { recursive: true });
  if (!(await isDirectory(inv.cwd)))
    throw new StagefarmError(
      "invalid_pipeline",
      `${what}: cwd ${shownPath({ t: "host", workspace: o.workspace }, inv.cwd)} is not a directory in the workspace`,
    );
  return runInProcessGroup(inv.command, inv.args, {
    cwd: inv.cwd,
    env,
    signal: o.signal,
    timeoutMs: o.timeoutMs,
    killGraceMs: o.killGraceMs,
    onOutput: o.onOutput,
  });
}

/** Runs env-update on the host for `root` (a workspace directory). */
export async function runEnvUpdateOnHost(
  command: string,
  root: string | undefined,
  o: HostRunOptions,
): Promise<ProcessOutcome> {
  if (root !== undefined)
    await checkConfined(o.workspace, root, `stage "${o.stage.name}" env-update ROOT`, "workspace");
  return runInProcessGroup(command, [], {
    cwd: o.workspace,
    env: hostEnv(root !== undefined ? { ROOT: root } : {}, o),
    signal: o.signal,
    timeoutMs: o.timeoutMs,
    killGraceMs: o.killGraceMs,
    onOutput: o.onOutput,
  });
}
