/**
 * The environment a chroot stage's script sees inside the root: the same fixed base as the
 * shell runner's (./script-env.ts) with paths that make sense inside a root (HOME=/root, no
 * workspace or TMPDIR of the host), TERM=dumb, the stage's env over it, nothing of the agent's.
 */
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { BASE_PATH, DEFAULT_SOURCE_DATE_EPOCH } from "./script-env.js";

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
