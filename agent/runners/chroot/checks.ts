/**
 * The checks runInChroot (./exec.ts) makes before it mounts anything: a usable root and
 * shell, an environment `env -i` can pass, bind sources that exist and targets that do not
 * overlap, a host resolv.conf when it is asked for. Each failure is `invalid_argument` saying
 * what is wrong with which path.
 */
import { constants } from "node:fs";
import { access, lstat, realpath, stat } from "node:fs/promises";
import { StagefarmError } from "../../../shared/errors.js";
import type { ChrootBind } from "./setup.js";
import { resolveInRoot } from "./paths.js";

export const HOST_RESOLV_CONF = "/etc/resolv.conf";

export async function checkRoot(path: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `the chroot root ${path} does not exist`, { cause: err });
  }
  if (!(await stat(real)).isDirectory())
    throw new StagefarmError("invalid_argument", `the chroot root ${path} is not a directory`);
  if (real === "/")
    throw new StagefarmError("invalid_argument", `the chroot root ${path} is the host's root`);
  return real;
}

export async function checkShell(root: string, shell: string): Promise<void> {
  if (!shell.startsWith("/"))
    throw new StagefarmError("invalid_argument", `the chroot shell "${shell}" must be an absolute path`);
  const r = await resolveInRoot(root, shell);
  const st = r.missing.length === 0 ? await lstat(r.existing) : undefined;
  if (!st?.isFile())
    throw new StagefarmError(
      "invalid_argument",
      `the chroot root ${root} has no shell ${shell} (is it a root file system? is the rootfs input placed there?)`,
    );
  if ((st.mode & 0o111) === 0)
    throw new StagefarmError(
      "invalid_argument",
      `the shell ${shell} in the chroot root ${root} is not executable`,
    );
}

export function checkEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (k === "" || k.includes("=") || k.includes("\0"))
      throw new StagefarmError("invalid_argument", `environment variable name "${k}" is not valid`);
    if (v.includes("\0"))
      throw new StagefarmError("invalid_argument", `environment variable ${k} contains a NUL byte`);
  }
}

function inside(parent: string, child: string): boolean {
  const p = parent.replace(/\/+$/, "");
  return child === p || child.startsWith(`${p}/`);
}

export async function checkBinds(
  binds: readonly ChrootBind[],
  withResolvConf: boolean,
): Promise<ChrootBind[]> {
  const out: ChrootBind[] = [];
  for (const b of binds) {
    if (!b.source.startsWith("/") || !b.target.startsWith("/"))
      throw new StagefarmError(
        "invalid_argument",
        `bind ${b.source} → ${b.target}: both paths must be absolute`,
      );
    const target = `/${b.target
      .split("/")
      .filter((c) => c !== "" && c !== ".")
      .join("/")}`;
    if (target === "/" || target.split("/").includes(".."))
      throw new StagefarmError("invalid_argument", `bind target ${b.target} is not a path below the root`);
    try {
      await access(b.source, constants.R_OK);
    } catch (err: unknown) {
      throw new StagefarmError("invalid_argument", `bind source ${b.source} does not exist`, { cause: err });
    }
    const clash = out.find((o) => inside(o.target, target) || inside(target, o.target));
    if (clash)
      throw new StagefarmError(
        "invalid_argument",
        `bind targets ${clash.target} and ${target} overlap (nested binds are not supported)`,
      );
    if (withResolvConf && inside(target, HOST_RESOLV_CONF))
      throw new StagefarmError(
        "invalid_argument",
        `bind target ${target} covers /etc/resolv.conf, which the run mounts (set resolv_conf: none)`,
      );
    out.push({ ...b, target });
  }
  return out;
}

export async function checkHostResolvConf(): Promise<void> {
  try {
    await access(HOST_RESOLV_CONF, constants.R_OK);
  } catch (err: unknown) {
    throw new StagefarmError(
      "invalid_argument",
      `resolv_conf is "host" but this host has no readable ${HOST_RESOLV_CONF} (use "none" or give content)`,
      { cause: err },
    );
  }
}
