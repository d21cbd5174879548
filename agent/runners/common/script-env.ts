/**
 * The environment a stage script sees: the stage's own env over a minimal fixed base, and
 * nothing of the agent's environment (which may hold credentials). Shared by the script
 * runners so a stage sees the same variables whichever runner starts it. Inside a root (chroot
 * and emerge in chroot mode) the paths are the root's (HOME=/root, no workspace or TMPDIR of the
 * host) and TERM=dumb.
 */
import type { ResolvedStage } from "../../../shared/pipeline/index.js";

export const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** 1980-01-01T00:00:00Z: the default SOURCE_DATE_EPOCH (also the default mtime clamp). */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

export interface ScriptEnvOptions {
  /** The workspace as the script sees it (HOME and STAGEFARM_WORKSPACE). */
  workspace: string;
  /** TMPDIR as the script sees it. */
  tmpDir: string;
  jobs: number;
}

export function scriptEnv(stage: ResolvedStage, opts: ScriptEnvOptions): Record<string, string> {
  return {
    PATH: BASE_PATH,
    HOME: opts.workspace,
    LC_ALL: "C",
    TMPDIR: opts.tmpDir,
    MAKEOPTS: `-j${opts.jobs}`,
    SOURCE_DATE_EPOCH: String(DEFAULT_SOURCE_DATE_EPOCH),
    ...stage.env,
    STAGEFARM_WORKSPACE: opts.workspace,
    STAGEFARM_STAGE: stage.name,
    STAGEFARM_JOBS: String(opts.jobs),
  };
}

/** The mtime clamp for a stage's tree outputs: its numeric SOURCE_DATE_EPOCH, else the default. */
export function clampMtimeFor(stage: ResolvedStage): number | undefined {
  if (!stage.clampMtime) return undefined;
  const sde = stage.env["SOURCE_DATE_EPOCH"];
  return sde !== undefined && /^\d+$/.test(sde) ? Number(sde) : DEFAULT_SOURCE_DATE_EPOCH;
}

/** The environment of a script run inside a root: the same base with the root's paths. */
export function chrootScriptEnv(stage: ResolvedStage, jobs: number): Record<string, string> {
  return {
    PATH: BASE_PATH,
    HOME: "/root",
    TERM: "dumb",
    LC_ALL: "C",
    MAKEOPTS: `-j${jobs}`,
    SOURCE_DATE_EPOCH: String(DEFAULT_SOURCE_DATE_EPOCH),
    ...stage.env,
    STAGEFARM_STAGE: stage.name,
    STAGEFARM_JOBS: String(jobs),
  };
}
