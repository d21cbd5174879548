/**
 * The `chroot` runner: runs the stage's script inside a root file system placed in the workspace
 * (`with.root`, default `rootfs`: the pipeline places a rootfs tree input there), with proc,
 * sys, dev, dev/pts, dev/shm, resolv.conf and the configured binds mounted for the run only
 * (./chroot-exec.ts: private namespaces, nothing outlives the run). Its `with` block is
 * shared/runner-config/chroot.ts; its environment ./chroot-env.ts.
 *
 * Afterwards the root is made fit to be packed (./chroot-scrub.ts: nothing in proc, sys,
 * dev/pts, dev/shm; no device nodes) and the executor packs the declared outputs (usually the
 * root itself, with excludes such as `./var/cache/distfiles/*`) as it does for every runner.
 */
import { realpath, stat } from "node:fs/promises";
import { StagefarmError } from "../../shared/errors.js";
import { parseChrootWith, type ChrootWith } from "../../shared/runner-config/index.js";
import { isInside, resolveInWorkspace } from "../workspace.js";
import { chrootScriptEnv } from "./chroot-env.js";
import { runInChroot, type ChrootBind } from "./chroot-exec.js";
import { scrubRootfs } from "./chroot-scrub.js";
import { LogTail } from "./log-tail.js";
import { checkScriptOutcome } from "./script-outcome.js";
import type { Runner, RunnerContext, RunnerResult } from "./types.js";

export interface ChrootRunnerOptions {
  /** Time between SIGTERM and SIGKILL when a script is cancelled or times out (default 5 s). */
  killGraceMs?: number;
}

export function createChrootRunner(opts: ChrootRunnerOptions = {}): Runner {
  return {
    kind: "chroot",
    run: (ctx) => runChroot(ctx, opts),
  };
}

async function runChroot(ctx: RunnerContext, opts: ChrootRunnerOptions): Promise<RunnerResult> {
  const { stage } = ctx;
  const what = `stage "${stage.name}" (runner chroot)`;
  if (stage.script === undefined || stage.script.trim() === "")
    throw new StagefarmError("invalid_pipeline", `${what} has no script`);
  const cfg = parseChrootWith(stage);
  const root = await workspaceDir(ctx, cfg.root, `${what} with.root`, "the root file system");
  const binds = await bindsOf(ctx, cfg, what);

  const tail = new LogTail();
  let outcome;
  try {
    outcome = await runInChroot({
      root,
      script: stage.script,
      env: chrootScriptEnv(stage, ctx.jobs),
      login: cfg.login,
      dev: cfg.dev,
      resolvConf: cfg.resolv_conf,
      binds,
      shell: cfg.shell,
      signal: ctx.signal,
      timeoutMs: stage.timeoutMs,
      killGraceMs: opts.killGraceMs,
      onOutput: (chunk) => {
        ctx.log.write(chunk);
        tail.push(chunk);
      },
    });
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "cancelled") throw new StagefarmError("cancelled", `stage "${stage.name}" was cancelled`);
    throw new StagefarmError(e.code, `${what}: ${e.message}`, { cause: e, details: { ...e.details } });
  }
  checkScriptOutcome(stage.name, outcome, { timeoutMs: stage.timeoutMs, logTail: tail.lines(30) });

  const { devicesRemoved } = await scrubRootfs(root, ctx.signal);
  if (devicesRemoved.length > 0) {
    const shown = devicesRemoved.slice(0, 20).join(", ");
    const more = devicesRemoved.length > 20 ? ` and ${devicesRemoved.length - 20} more` : "";
    ctx.log.write(
      `>>> removed device nodes from ${cfg.root} (a root artifact holds none): ${shown}${more}\n`,
    );
  }
  return {};
}

/** A workspace path that must exist and (for the root) be a directory, by its real path. */
async function workspaceDir(ctx: RunnerContext, rel: string, what: string, role: string): Promise<string> {
  const abs = resolveInWorkspace(ctx.workspace, rel, what);
  let real: string;
  try {
    real = await realpath(abs);
  } catch (err: unknown) {
    throw new StagefarmError(
      "invalid_argument",
      `${what}: ${role} "${rel}" is not in the workspace (place an input there)`,
      { cause: err },
    );
  }
  if (!isInside(await realpath(ctx.workspace), real))
    throw new StagefarmError("unsafe_archive", `${what}: "${rel}" leads outside the workspace (to ${real})`);
  if (role === "the root file system" && !(await stat(real)).isDirectory())
    throw new StagefarmError("invalid_argument", `${what}: ${role} "${rel}" is not a directory`);
  return real;
}

async function bindsOf(ctx: RunnerContext, cfg: ChrootWith, what: string): Promise<ChrootBind[]> {
  const out: ChrootBind[] = [];
  for (const [i, b] of cfg.binds.entries()) {
    const source = await workspaceDir(ctx, b.from, `${what} with.binds[${i}].from`, "the bind source");
    out.push({ source, target: b.to, readonly: b.readonly });
  }
  return out;
}
