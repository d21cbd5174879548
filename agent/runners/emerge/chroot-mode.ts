/**
 * Chroot mode of the emerge runner: each step (config writes, env-update, each invocation) is
 * one script run by `runInChroot` (../chroot/exec.ts) in the stage's rootfs: `env -i` with a
 * fixed base (PATH, HOME=/root, TERM, SHELL) plus the plan's env, a login shell unless
 * `login: false`, the stage's /dev (minimal unless `dev: devtmpfs`), the host's resolv.conf (emerge fetches distfiles). One
 * chroot per step keeps each step's exit status its own and lets a login shell re-read
 * /etc/profile after env-update, as the procedure does with `source /etc/profile`.
 */
import type { ProcessOutcome } from "../../process-group.js";
import { runInChroot } from "../chroot/index.js";
import { BASE_PATH } from "../common/index.js";

export interface ChrootStepOptions {
  /** Absolute host path of the rootfs. */
  root: string;
  login: boolean;
  dev: "minimal" | "devtmpfs";
  signal: AbortSignal;
  timeoutMs: number | undefined;
  killGraceMs: number | undefined;
  onOutput: (chunk: Uint8Array) => void;
}

export const CHROOT_BASE_ENV: Readonly<Record<string, string>> = {
  PATH: BASE_PATH,
  HOME: "/root",
  TERM: "dumb",
  SHELL: "/bin/bash",
};

export function runStepInChroot(
  script: string,
  env: Record<string, string>,
  o: ChrootStepOptions,
): Promise<ProcessOutcome> {
  return runInChroot({
    root: o.root,
    script,
    env: { ...CHROOT_BASE_ENV, ...env },
    login: o.login,
    dev: o.dev,
    resolvConf: "host",
    binds: [],
    shell: "/bin/bash",
    signal: o.signal,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
    onOutput: o.onOutput,
  });
}
