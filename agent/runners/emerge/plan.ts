/**
 * Turns a parsed emerge `with` into a plan: the files to write (portage config, binrepos.conf,
 * env.d), whether env-update runs, and each emerge invocation with its full argv and env.
 * Pure: the host and chroot executors (./host-mode.ts, ./chroot-mode.ts) carry it out.
 *
 * Paths in a plan are absolute where the work happens: host paths inside the workspace in
 * host mode (workspace-relative values resolved), paths inside the rootfs in chroot mode.
 *
 * Jobs: MAKEOPTS="-j<slots> -l<load>" in the environment, and `--jobs=<max(1, slots/2)>
 * --load-average=<load>` as the first arguments of every invocation, where slots are the
 * stage's granted build slots and load is the agent's CPU count: the slots bound this stage,
 * the load average keeps all stages together from overloading the machine; emerge runs half as
 * many packages as make runs jobs, the proportion the procedure uses (12 make jobs, 6 emerge
 * jobs). The emerge options are arguments, not EMERGE_DEFAULT_OPTS, because portage takes an
 * environment variable over make.conf and EMERGE_DEFAULT_OPTS is not incremental
 * (portage 3.0.66.1: lib/portage/package/ebuild/config.py puts "env" first in its lookup list;
 * lib/portage/const.py INCREMENTALS does not list it): an EMERGE_DEFAULT_OPTS in the environment
 * would hide the config's own (the procedure's `--usepkg`). emerge reads the config's
 * EMERGE_DEFAULT_OPTS and then its command line (lib/_emerge/main.py), so the result is the
 * config's value followed by the jobs: "<config's EMERGE_DEFAULT_OPTS> --jobs=N
 * --load-average=L <args>", the later option winning, and an invocation's own `--jobs` in its
 * args wins over ours. An invocation's env (or the stage's env) setting MAKEOPTS or
 * EMERGE_DEFAULT_OPTS is the pipeline's choice and wins: with EMERGE_DEFAULT_OPTS set there,
 * no jobs arguments are added. PKGDIR always comes from `with.pkgdir`, so the packages land
 * where they are collected.
 *
 * The farm binhost's binrepos.conf stanza is written before the invocations and removed after
 * them (`afterwards`): it is the agent's, and a root passed on (the bootstrap's seed) must not
 * carry it.
 */
import { join, posix, relative } from "node:path";
import type { ResolvedStage } from "../../../shared/pipeline/index.js";
import { PATH_ENV, portageConfigEntries, type EmergeWith } from "../../../shared/runner-config/emerge.js";
import { binreposConfName } from "../binpkgs/index.js";

export type EmergeMode = { t: "host"; workspace: string } | { t: "chroot" };

/** One thing to write. `path` is absolute in the mode's view (see the header). */
export type WriteOp =
  /** A file; when `intoDir` is set and `path` is an existing directory, `path/<intoDir>` instead
   *  (portage reads package.use and friends as a file or as a directory of files). */
  | { t: "file"; path: string; content: string; intoDir?: string }
  /** A symlink to `target`, replacing whatever is at `path`. */
  | { t: "link"; path: string; target: string }
  /** A directory holding exactly `files`, replacing whatever is at `path`. */
  | { t: "dir"; path: string; files: Record<string, string> }
  /** A directory; an existing non-directory at `path` moves into it as `keepFileAs`. */
  | { t: "conf-dir"; path: string; keepFileAs: string }
  /** A file removed if it is there. */
  | { t: "remove"; path: string };

export interface PlannedInvocation {
  /** 1-based. */
  index: number;
  total: number;
  command: string;
  args: string[];
  /** The stage's env, stagefarm's defaults (jobs, PKGDIR, FEATURES) and the invocation's env. */
  env: Record<string, string>;
  /** The invocation's own variables plus the defaults stagefarm set, for the log line. */
  shownEnv: Record<string, string>;
  cwd: string;
}

export interface BinhostUse {
  name: string;
  /** The binrepos.conf stanza to write (absent: do not fetch from the binhost). */
  conf?: string;
  /** Add FEATURES=buildpkg so there is something to publish. */
  buildpkg: boolean;
}

export interface EmergePlanOptions {
  mode: EmergeMode;
  jobs: number;
  loadAverage: number;
  /** The program when an invocation names none. */
  emergeCommand: string;
  binhost?: BinhostUse;
}

export interface EmergePlan {
  writes: WriteOp[];
  /** Carried out after the last invocation (the farm binhost's binrepos.conf removed). */
  afterwards: WriteOp[];
  /** Run env-update after the writes, with this ROOT (undefined in chroot mode: the chroot's /). */
  envUpdate?: { root: string | undefined };
  invocations: PlannedInvocation[];
  /** PKGDIR, absolute in the mode's view. */
  pkgdir: string;
}

/** Files that may be a directory of files in portage; ours then goes into it under this name. */
const DIR_CAPABLE = new Set([
  "make.conf",
  "package.use",
  "package.mask",
  "package.unmask",
  "package.accept_keywords",
  "package.license",
  "package.env",
]);
export const INTO_DIR_NAME = "zz-stagefarm";

export interface EmergeJobDefaults {
  /** MAKEOPTS, in the environment. */
  makeopts: string;
  /** emerge's own options, the first arguments of an invocation. */
  emergeArgs: string[];
}

export function emergeJobDefaults(jobs: number, loadAverage: number): EmergeJobDefaults {
  const slots = Math.max(1, Math.floor(jobs));
  const load = Math.max(1, Math.floor(loadAverage));
  return {
    makeopts: `-j${slots} -l${load}`,
    emergeArgs: [`--jobs=${Math.max(1, Math.floor(slots / 2))}`, `--load-average=${load}`],
  };
}

const GETBINPKG_RE = /^(--getbinpkg(only)?(=.*)?|-[A-Za-z0-9]*[gG][A-Za-z0-9]*)$/;

export function planEmerge(w: EmergeWith, stage: ResolvedStage, opts: EmergePlanOptions): EmergePlan {
  const { mode } = opts;
  /** A path from the pipeline, absolute in the mode's view. */
  const at = (p: string): string => (mode.t === "host" ? join(mode.workspace, p) : posix.normalize(p));

  const writes: WriteOp[] = [];
  for (const c of w.configs) {
    const base = posix.join(at(c.config_root), "etc/portage");
    for (const e of portageConfigEntries(c)) {
      const path = posix.join(base, e.rel);
      if (e.t === "file")
        writes.push({
          t: "file",
          path,
          content: e.content,
          ...(DIR_CAPABLE.has(e.rel) ? { intoDir: INTO_DIR_NAME } : {}),
        });
      else if (e.t === "link") writes.push({ t: "link", path, target: e.target });
      else writes.push({ t: "dir", path, files: e.files });
    }
  }

  const invocations = w.emerge.map((inv, i): PlannedInvocation => {
    const own: Record<string, string> = { ...inv.env };
    for (const name of PATH_ENV) {
      const v = own[name] ?? stage.env[name];
      if (v !== undefined) own[name] = at(v);
    }
    const defaults = emergeJobDefaults(opts.jobs, opts.loadAverage);
    const env: Record<string, string> = {
      MAKEOPTS: defaults.makeopts,
      ...stage.env,
      PKGDIR: at(w.pkgdir),
      ...own,
    };
    const shownEnv: Record<string, string> = { ...own };
    if (inv.env?.["MAKEOPTS"] === undefined && stage.env["MAKEOPTS"] === undefined)
      shownEnv["MAKEOPTS"] = defaults.makeopts;
    const ownDefaultOpts = inv.env?.["EMERGE_DEFAULT_OPTS"] ?? stage.env["EMERGE_DEFAULT_OPTS"];
    const args = ownDefaultOpts === undefined ? [...defaults.emergeArgs, ...inv.args] : [...inv.args];
    const bh = opts.binhost;
    const features: string[] = [];
    if (bh?.conf !== undefined) {
      if (!args.some((a) => GETBINPKG_RE.test(a))) args.unshift("--getbinpkg");
      features.push("getbinpkg");
    }
    if (bh?.buildpkg) features.push("buildpkg");
    if (features.length > 0) {
      env["FEATURES"] = [env["FEATURES"], ...features].filter((f) => f !== undefined && f !== "").join(" ");
      shownEnv["FEATURES"] = env["FEATURES"];
    }
    return {
      index: i + 1,
      total: w.emerge.length,
      command: inv.command ?? opts.emergeCommand,
      args,
      env,
      shownEnv,
      cwd: inv.cwd !== undefined ? at(inv.cwd) : mode.t === "host" ? mode.workspace : "/",
    };
  });

  const afterwards: WriteOp[] = [];
  if (opts.binhost?.conf !== undefined) {
    const roots = new Set(w.configs.map((c) => at(c.config_root)));
    for (const inv of invocations) roots.add(inv.env["PORTAGE_CONFIGROOT"] ?? "/");
    for (const root of roots) {
      const dir = posix.join(root, "etc/portage/binrepos.conf");
      writes.push({ t: "conf-dir", path: dir, keepFileAs: "00-local.conf" });
      const content = opts.binhost.conf.endsWith("\n") ? opts.binhost.conf : `${opts.binhost.conf}\n`;
      const path = posix.join(dir, binreposConfName(opts.binhost.name));
      writes.push({ t: "file", path, content });
      afterwards.push({ t: "remove", path });
    }
  }

  let envUpdate: EmergePlan["envUpdate"];
  if (w.env_d !== undefined) {
    // Host mode has no "/" of its own: env.d belongs to the first invocation's ROOT.
    const root = mode.t === "host" ? invocations[0]?.env["ROOT"] : undefined;
    const envDir = posix.join(root ?? "/", "etc/env.d");
    for (const [name, content] of Object.entries(w.env_d))
      writes.push({
        t: "file",
        path: posix.join(envDir, name),
        content: content.endsWith("\n") ? content : `${content}\n`,
      });
    envUpdate = { root };
  }

  return { writes, afterwards, ...(envUpdate ? { envUpdate } : {}), invocations, pkgdir: at(w.pkgdir) };
}

/** How a planned path is shown in the log: workspace-relative in host mode, as is in a chroot. */
export function shownPath(mode: EmergeMode, path: string): string {
  return mode.t === "host" ? relative(mode.workspace, path) || "." : path;
}
