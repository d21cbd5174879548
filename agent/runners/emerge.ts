/**
 * The `emerge` runner: portage configuration as data, emerge invocations in order, and the
 * binary packages they built collected as outputs.
 *
 *   parse `with` → binhost conf (optional) → plan → snapshot PKGDIR → write config files
 *   → env-update (when env_d) → each invocation, stopping at the first failure
 *   → remove the binhost conf → collect new binpkgs (one blob each + binpkgs.index) → publish to the binhost (optional)
 *
 * Modes, paths and defaults: shared/runner-config/emerge.ts. Jobs (MAKEOPTS, --jobs,
 * --load-average): ./emerge-plan.ts. Host mode: ./emerge-host.ts; chroot mode:
 * ./emerge-chroot.ts. Binpkgs: ./binpkgs.ts; binhost seam: ./binhost-seam.ts (with a client and
 * `with.binhost`, every invocation gets --getbinpkg and FEATURES="getbinpkg" unless `use: false`,
 * plus "buildpkg" when publishing, so there are packages to publish; the binrepos.conf stanza
 * is removed again after the last invocation).
 *
 * The stage's timeout bounds all steps together. A failing step is an error naming the stage,
 * the step (for an invocation: its index and argv) and the exit status, with the step's last
 * output lines in the details (`logTail`).
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { stat } from "node:fs/promises";
import { StagefarmError } from "../../shared/errors.js";
import { parseEmergeWith } from "../../shared/runner-config/index.js";
import type { ProcessOutcome } from "../process-group.js";
import { resolveInWorkspace } from "../workspace.js";
import { collectBinpkgs, snapshotPkgdir, type CollectedBinpkgs } from "./binpkgs.js";
import type { BinhostClient } from "./binhost-seam.js";
import { scrubRootfs } from "./chroot-scrub.js";
import { runStepInChroot, type ChrootStepOptions } from "./emerge-chroot.js";
import {
  applyWritesOnHost,
  checkConfined,
  runEnvUpdateOnHost,
  runInvocationOnHost,
  type HostRunOptions,
} from "./emerge-host.js";
import { planEmerge, shownPath, type BinhostUse, type EmergeMode } from "./emerge-plan.js";
import { invocationLine, invocationName, invocationScript, shQuote, writesScript } from "./emerge-script.js";
import { LogTail } from "./log-tail.js";
import { formatLimit } from "./script-outcome.js";
import type { Runner, RunnerContext, RunnerResult } from "./types.js";

export interface EmergeRunnerOptions {
  /** The program an invocation runs when it names none (default "emerge"). */
  emergeCommand?: string;
  /** The program run after writing env_d (default "env-update"). */
  envUpdateCommand?: string;
  /** Time between SIGTERM and SIGKILL on cancel or timeout (default 5 s). */
  killGraceMs?: number;
  /** The farm binhost, when this agent has one (issue 5). */
  binhost?: BinhostClient;
  /** The load average in MAKEOPTS and emerge's --load-average (default: this machine's CPU count). */
  loadAverage?: number;
}

export function createEmergeRunner(opts: EmergeRunnerOptions = {}): Runner {
  return { kind: "emerge", run: (ctx) => runEmerge(ctx, opts) };
}

type Step = (timeoutMs: number | undefined, onOutput: (chunk: Uint8Array) => void) => Promise<ProcessOutcome>;

async function runEmerge(ctx: RunnerContext, opts: EmergeRunnerOptions): Promise<RunnerResult> {
  const { stage, workspace } = ctx;
  const line = (s: string): void => ctx.log.write(`${s}\n`);
  const w = parseEmergeWith(stage);
  const mode: EmergeMode = w.root === undefined ? { t: "host", workspace } : { t: "chroot" };
  const root = w.root === undefined ? undefined : await rootfsDir(ctx, w.root);

  const binhost = await binhostUse(ctx, w.binhost, opts.binhost, line);
  const plan = planEmerge(w, stage, {
    mode,
    jobs: ctx.jobs,
    loadAverage: opts.loadAverage ?? availableParallelism(),
    emergeCommand: opts.emergeCommand ?? "emerge",
    ...(binhost ? { binhost } : {}),
  });
  const base = root ?? workspace;
  const pkgdir = root === undefined ? plan.pkgdir : join(root, plan.pkgdir);
  const pkgdirWhat = `stage "${stage.name}" pkgdir ${w.pkgdir}`;
  await checkConfined(base, pkgdir, pkgdirWhat, root === undefined ? "workspace" : "rootfs");
  const before = await snapshotPkgdir(pkgdir, ctx.signal);

  const deadline =
    Number.isFinite(stage.timeoutMs) && stage.timeoutMs > 0 ? Date.now() + stage.timeoutMs : undefined;
  const runStep = async (name: string, step: Step): Promise<void> => {
    const left = deadline === undefined ? undefined : deadline - Date.now();
    if (left !== undefined && left <= 0) throw timedOut(stage.name, stage.timeoutMs, name, "");
    const tail = new LogTail();
    const outcome = await step(left, (chunk) => {
      ctx.log.write(chunk);
      tail.push(chunk);
    });
    checkStep(stage.name, name, outcome, stage.timeoutMs, tail.lines(30));
  };
  const hostOpts = (timeoutMs: number | undefined, onOutput: (c: Uint8Array) => void): HostRunOptions => ({
    stage,
    workspace,
    jobs: ctx.jobs,
    signal: ctx.signal,
    timeoutMs,
    killGraceMs: opts.killGraceMs,
    onOutput,
  });
  const chrootOpts = (
    rootfs: string,
    timeoutMs: number | undefined,
    onOutput: (c: Uint8Array) => void,
  ): ChrootStepOptions => ({
    root: rootfs,
    login: w.login,
    dev: w.dev,
    signal: ctx.signal,
    timeoutMs,
    killGraceMs: opts.killGraceMs,
    onOutput,
  });

  if (plan.writes.length > 0) {
    line(
      `writing the portage configuration (${root === undefined ? "in the workspace" : `in the rootfs ${w.root}`})`,
    );
    if (root === undefined) await applyWritesOnHost(plan.writes, workspace, stage.name, line);
    else
      await runStep("writing the portage configuration", (t, out) =>
        runStepInChroot(writesScript(plan.writes), {}, chrootOpts(root, t, out)),
      );
  }
  if (plan.envUpdate) {
    const envRoot = plan.envUpdate.root;
    line(`>>> env-update${envRoot === undefined ? "" : ` (ROOT=${shownPath(mode, envRoot)})`}`);
    const cmd = opts.envUpdateCommand ?? "env-update";
    await runStep("env-update", (t, out) =>
      root === undefined
        ? runEnvUpdateOnHost(cmd, envRoot, hostOpts(t, out))
        : runStepInChroot(`exec ${shQuote(cmd)}\n`, { ...stage.env }, chrootOpts(root, t, out)),
    );
  }
  for (const inv of plan.invocations) {
    throwIfCancelled(ctx.signal, stage.name, invocationName(inv));
    line(invocationLine(inv));
    await runStep(invocationName(inv), (t, out) =>
      root === undefined
        ? runInvocationOnHost(inv, hostOpts(t, out))
        : runStepInChroot(invocationScript(inv), inv.env, chrootOpts(root, t, out)),
    );
  }

  if (plan.afterwards.length > 0) {
    line("removing the farm binhost configuration (the root keeps none of the agent's config)");
    if (root === undefined) await applyWritesOnHost(plan.afterwards, workspace, stage.name, line);
    else
      await runStep("removing the farm binhost configuration", (t, out) =>
        runStepInChroot(writesScript(plan.afterwards), {}, chrootOpts(root, t, out)),
      );
  }

  // The build may have replaced directories by symlinks: check PKGDIR again before reading it.
  await checkConfined(base, pkgdir, pkgdirWhat, root === undefined ? "workspace" : "rootfs");
  const collected = await collectBinpkgs({
    pkgdir,
    before,
    store: ctx.store,
    signal: ctx.signal,
    log: line,
    shownAs: root === undefined ? shownPath(mode, pkgdir) : plan.pkgdir,
  });
  if (w.binhost?.publish && opts.binhost) await publish(ctx, opts.binhost, w.binhost.name, collected, line);
  if (root !== undefined) {
    // The rootfs is usually passed on as an output: no pseudo-filesystem contents or device
    // nodes in it (the unpacker of the next stage refuses device nodes).
    const { devicesRemoved } = await scrubRootfs(root, ctx.signal);
    if (devicesRemoved.length > 0)
      line(`removed ${devicesRemoved.length} device node(s) from the rootfs before packing`);
  }
  return { stored: collected.stored };
}

async function publish(
  ctx: RunnerContext,
  client: BinhostClient,
  name: string,
  { packages, profile }: CollectedBinpkgs,
  line: (s: string) => void,
): Promise<void> {
  if (packages.length === 0) {
    line(`nothing to publish to binhost "${name}"`);
    return;
  }
  line(`publishing ${packages.length} package(s) to binhost "${name}"`);
  const { stage, store, signal, log, logger } = ctx;
  try {
    await client.publish(name, packages, { stage, store, signal, log, logger, profile });
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    throw new StagefarmError(
      e.code,
      `stage "${stage.name}": publishing to binhost "${name}" failed: ${e.message}`,
      {
        cause: e,
        details: { binhost: name },
      },
    );
  }
}

/** The rootfs directory of chroot mode: in the workspace and present. */
async function rootfsDir(ctx: RunnerContext, rel: string): Promise<string> {
  const what = `stage "${ctx.stage.name}" root`;
  const abs = resolveInWorkspace(ctx.workspace, rel, what);
  await checkConfined(ctx.workspace, abs, what, "workspace");
  let isDir = false;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err: unknown) {
    if (StagefarmError.from(err).code !== "not_found") throw StagefarmError.from(err);
  }
  if (!isDir)
    throw new StagefarmError(
      "invalid_pipeline",
      `${what}: ${rel} is not a directory in the workspace (place the rootfs input at that path)`,
    );
  return abs;
}

async function binhostUse(
  ctx: RunnerContext,
  wanted: { name: string; use: boolean; publish: boolean } | undefined,
  client: BinhostClient | undefined,
  line: (s: string) => void,
): Promise<BinhostUse | undefined> {
  if (wanted === undefined) return undefined;
  if (client === undefined) {
    line(`the farm binhost is not configured on this agent: building without binhost "${wanted.name}"`);
    return undefined;
  }
  let conf: string | undefined;
  if (wanted.use) {
    try {
      conf = await client.binreposConf(wanted.name);
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      throw new StagefarmError(
        e.code,
        `stage "${ctx.stage.name}": could not get the binrepos.conf of binhost "${wanted.name}": ${e.message}`,
        { cause: e },
      );
    }
    line(`using binhost "${wanted.name}" (--getbinpkg)`);
  }
  if (wanted.publish)
    line(`publishing what this stage builds to binhost "${wanted.name}" (FEATURES=buildpkg)`);
  return { name: wanted.name, ...(conf !== undefined ? { conf } : {}), buildpkg: wanted.publish };
}

function throwIfCancelled(signal: AbortSignal, stage: string, step: string): void {
  if (signal.aborted) throw new StagefarmError("cancelled", `stage "${stage}" was cancelled before ${step}`);
}

function timedOut(stage: string, timeoutMs: number, step: string, logTail: string): StagefarmError {
  return new StagefarmError(
    "timeout",
    `stage "${stage}" timed out after ${formatLimit(timeoutMs)} during ${step}`,
    {
      details: { timeoutMs, logTail },
    },
  );
}

function checkStep(
  stage: string,
  step: string,
  outcome: ProcessOutcome,
  timeoutMs: number,
  logTail: string,
): void {
  if (outcome.cancelled)
    throw new StagefarmError("cancelled", `stage "${stage}" was cancelled during ${step}`);
  if (outcome.timedOut) throw timedOut(stage, timeoutMs, step, logTail);
  if (outcome.exitCode === 0) return;
  const how =
    outcome.exitCode !== undefined
      ? `exited with status ${outcome.exitCode}`
      : `was killed by signal ${outcome.signal ?? "unknown"}`;
  throw new StagefarmError("stage_failed", `stage "${stage}": ${step} ${how}`, {
    details: { step, exitCode: outcome.exitCode, signal: outcome.signal, logTail },
  });
}
