/**
 * The `with` of an `emerge` stage: portage configuration as data and the emerge invocations.
 * Parsed once per stage by `parseEmergeWith`; every problem is reported at once, each naming
 * the stage and the key path (`with.emerge[1].env.ROOT`).
 *
 * Modes
 * - chroot mode (`root` given, a workspace-relative rootfs directory): everything runs inside a
 *   chroot of it; every path (config_root, pkgdir, cwd, ROOT, SYSROOT, PORTAGE_CONFIGROOT,
 *   EPREFIX) is absolute, as seen inside the chroot. Defaults: config_root "/", pkgdir
 *   "/var/cache/binpkgs", cwd "/".
 * - host mode (no `root`): the agent's own emerge runs. Everything it writes must stay in the
 *   workspace, so config_root, pkgdir, cwd, ROOT, SYSROOT and PORTAGE_CONFIGROOT are
 *   workspace-relative (an absolute one would name the agent's own system and is refused), and
 *   every invocation needs ROOT and PORTAGE_CONFIGROOT (from its env or the stage's env).
 *   Defaults: pkgdir "binpkgs", cwd the workspace; config_root is required.
 *   EPREFIX is a prefix inside ROOT in both modes (absolute).
 *
 * Keys are snake_case as written in YAML:
 *   root?, login? (default true), dev? ("minimal" | "devtmpfs", chroot mode), configs[] { config_root, make_conf?, make_profile? ({link} |
 *   {files}), package_use?, package_mask?, package_unmask?, package_accept_keywords?,
 *   package_license?, package_env?, env? {relpath: content} → etc/portage/env/<relpath>,
 *   profile? → etc/portage/profile/<relpath>, files? → etc/portage/<relpath> }, env_d?
 *   {name: content}, emerge[] { args, env?, command?, cwd? }, pkgdir?, binhost? { name, use,
 *   publish }.
 */
import { posix } from "node:path";
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { ResolvedStage } from "../pipeline/index.js";
import { envNameProblem, NAME_RE, pathProblem } from "../pipeline/rules.js";
import { didYouMean } from "../pipeline/suggest.js";

/** Environment variables that name paths portage writes through (checked per mode). */
export const PATH_ENV = ["ROOT", "SYSROOT", "PORTAGE_CONFIGROOT"] as const;

/** Whether `s` holds a control character (NUL, newline, escape, DEL, …). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** An option (`-D1n`, `--jobs=4`) or an atom, set or option value (`>=sys-devel/gcc-14`, `@world`, `4`). */
export function argProblem(arg: string): string | undefined {
  if (arg.length === 0) return "an empty argument";
  if (hasControl(arg)) return `argument ${JSON.stringify(arg)} contains a control character`;
  if (/\s/.test(arg))
    return `argument "${arg}" contains whitespace (give each option and atom as its own list item)`;
  if (arg.startsWith("-")) {
    const m = /^--?[A-Za-z0-9][A-Za-z0-9-]*(=(.*))?$/.exec(arg);
    if (!m) return `"${arg}" is not a valid emerge option`;
    if (m[2] !== undefined && !/^[A-Za-z0-9<>=~!@*+_./:,[\]()?-]*$/.test(m[2]))
      return `option "${arg}" has characters emerge options do not use`;
    return undefined;
  }
  if (!/^[A-Za-z0-9<>=~!@*+_./:,[\]()?-]+$/.test(arg))
    return `"${arg}" is not a valid atom, set or option value (shell syntax such as $, quotes, ; or | is not interpreted)`;
  return undefined;
}

/** The program to run (`emerge`, `./portage/bin/emerge`, `/usr/bin/emerge`). */
function commandProblem(cmd: string): string | undefined {
  if (!/^[A-Za-z0-9_./+-]+$/.test(cmd))
    return `command "${cmd}" must be a program name or path (letters, digits, "_", ".", "/", "+", "-")`;
  return undefined;
}

function absProblem(path: string): string | undefined {
  if (hasControl(path)) return `path ${JSON.stringify(path)} contains a control character`;
  if (!path.startsWith("/")) return `path "${path}" must be absolute`;
  if (path.split("/").includes("..")) return `path "${path}" must not contain ".." components`;
  const norm = posix.normalize(path).replace(/(.)\/+$/, "$1");
  if (norm !== path) return `path "${path}" is not normalised; write "${norm}"`;
  return undefined;
}

/** A record whose keys pass `problem` (zod's own message for a bad key says nothing useful). */
function recordOf<V extends z.ZodType>(value: V, problem: (key: string) => string | undefined) {
  return z.record(z.string(), value).superRefine((rec, ctx) => {
    for (const key of Object.keys(rec)) {
      const p = problem(key);
      if (p !== undefined) ctx.addIssue({ code: "custom", path: [key], message: p });
    }
  });
}

const relPathKey = (key: string): string | undefined => pathProblem(key)?.replace("workspace", "directory");
const envDName = (key: string): string | undefined =>
  /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(key) ? undefined : `invalid env.d file name "${key}"`;

const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const envMap = recordOf(envValue, envNameProblem);

const makeProfileSchema = z
  .object({
    link: z.string().min(1).optional(),
    files: recordOf(z.string(), relPathKey).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.link === undefined) === (p.files === undefined))
      ctx.addIssue({
        code: "custom",
        message: "give either link (a symlink target) or files (the profile directory's files)",
      });
    if (p.link !== undefined && hasControl(p.link))
      ctx.addIssue({ code: "custom", path: ["link"], message: "contains a control character" });
  });

const configSchema = z
  .object({
    config_root: z.string().min(1).optional(),
    make_conf: z.string().optional(),
    make_profile: makeProfileSchema.optional(),
    package_use: z.string().optional(),
    package_mask: z.string().optional(),
    package_unmask: z.string().optional(),
    package_accept_keywords: z.string().optional(),
    package_license: z.string().optional(),
    package_env: z.string().optional(),
    env: recordOf(z.string(), relPathKey).optional(),
    profile: recordOf(z.string(), relPathKey).optional(),
    files: recordOf(z.string(), relPathKey).optional(),
  })
  .strict();

const invocationSchema = z
  .object({
    args: z.array(z.string()).min(1, "needs at least one option or atom"),
    env: envMap.optional(),
    command: z.string().min(1).optional(),
    cwd: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((inv, ctx) => {
    inv.args.forEach((a, i) => {
      const p = argProblem(a);
      if (p !== undefined) ctx.addIssue({ code: "custom", path: ["args", i], message: p });
    });
    const cp = inv.command === undefined ? undefined : commandProblem(inv.command);
    if (cp !== undefined) ctx.addIssue({ code: "custom", path: ["command"], message: cp });
    if (inv.env?.["PKGDIR"] !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["env", "PKGDIR"],
        message: "set the package directory with with.pkgdir (its packages are collected from there)",
      });
  });

/** A boolean, or "true"/"false" (what a `${{ params.X }}` template gives). */
const flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")], {
  error: 'must be true or false (or "true"/"false" from a param)',
});

const binhostSchema = z
  .object({
    name: z.string().regex(NAME_RE, "use lowercase letters, digits, _ and -"),
    use: flag.default(true),
    publish: flag.default(true),
  })
  .strict();

export const emergeWithSchema = z
  .object({
    root: z.string().min(1).optional(),
    login: z.boolean().default(true),
    /** Chroot mode: a minimal tmpfs /dev, or the host's devtmpfs (as the procedure's native steps). */
    dev: z.enum(["minimal", "devtmpfs"]).default("minimal"),
    configs: z.array(configSchema).default([]),
    env_d: recordOf(z.string(), envDName).optional(),
    emerge: z.array(invocationSchema).min(1, "needs at least one invocation"),
    pkgdir: z.string().min(1).optional(),
    binhost: binhostSchema.optional(),
  })
  .strict();

type WithOut = z.output<typeof emergeWithSchema>;
type ConfigOut = z.output<typeof configSchema>;
export type EmergeConfig = Omit<ConfigOut, "config_root"> & { config_root: string };

/** A parsed `with`, defaults applied (config_root, pkgdir per mode). */
export type EmergeWith = Omit<WithOut, "configs" | "pkgdir"> & { configs: EmergeConfig[]; pkgdir: string };

export const CHROOT_DEFAULT_PKGDIR = "/var/cache/binpkgs";
export const HOST_DEFAULT_PKGDIR = "binpkgs";

/** One file (or link, or directory of files) a config writes under `<config_root>/etc/portage/`. */
export type PortageConfigEntry =
  | { t: "file"; rel: string; content: string; key: string }
  | { t: "link"; rel: string; target: string; key: string }
  | { t: "dir"; rel: string; files: Record<string, string>; key: string };

const SINGLE_FILES = [
  ["make_conf", "make.conf"],
  ["package_use", "package.use"],
  ["package_mask", "package.mask"],
  ["package_unmask", "package.unmask"],
  ["package_accept_keywords", "package.accept_keywords"],
  ["package_license", "package.license"],
  ["package_env", "package.env"],
] as const;

/** What a config entry writes, relative to `<config_root>/etc/portage`, in writing order. */
export function portageConfigEntries(c: Omit<ConfigOut, "config_root">): PortageConfigEntry[] {
  const out: PortageConfigEntry[] = [];
  for (const [key, rel] of SINGLE_FILES) {
    const content = c[key];
    if (content !== undefined) out.push({ t: "file", rel, content, key });
  }
  if (c.make_profile?.link !== undefined)
    out.push({ t: "link", rel: "make.profile", target: c.make_profile.link, key: "make_profile.link" });
  if (c.make_profile?.files !== undefined)
    out.push({ t: "dir", rel: "make.profile", files: c.make_profile.files, key: "make_profile.files" });
  for (const [key, dir] of [
    ["env", "env/"],
    ["profile", "profile/"],
    ["files", ""],
  ] as const)
    for (const [rel, content] of Object.entries(c[key] ?? {}))
      out.push({ t: "file", rel: `${dir}${rel}`, content, key: `${key}.${rel}` });
  return out;
}

/** Every key the schema knows, for "did you mean" on an unknown one. */
const KNOWN_KEYS = [
  ...Object.keys(emergeWithSchema.shape),
  ...Object.keys(configSchema.shape),
  ...Object.keys(invocationSchema.shape),
  ...Object.keys(binhostSchema.shape),
  "link",
  "files",
];

function formatPath(path: readonly PropertyKey[]): string {
  let s = "with";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return s;
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys")
    return issue.keys.map((k) => `unknown key "${k}"${didYouMean(k, KNOWN_KEYS)}`).join("; ");
  return issue.message;
}

/** Parses and checks a stage's `with`; throws `invalid_pipeline` listing every problem. */
export function parseEmergeWith(stage: ResolvedStage): EmergeWith {
  const r = emergeWithSchema.safeParse(stage.with);
  if (!r.success)
    throw invalid(
      stage,
      r.error.issues.map((i) => `${formatPath(i.path)}: ${issueText(i)}`),
    );
  const w = r.data;
  const problems: string[] = [];
  const at = (path: readonly PropertyKey[], msg: string): void => {
    problems.push(`${formatPath(path)}: ${msg}`);
  };
  const chroot = w.root !== undefined;
  if (w.root !== undefined) {
    const p = pathProblem(w.root);
    if (p !== undefined) at(["root"], p);
  }
  /** A path key checked for the mode: absolute inside the chroot, relative to the workspace on the host. */
  const checkPath = (path: readonly PropertyKey[], value: string, what: string): void => {
    if (chroot) {
      const p = absProblem(value);
      if (p !== undefined) at(path, `${p} (in chroot mode ${what} is a path inside the rootfs)`);
    } else if (value.startsWith("/")) {
      at(
        path,
        `${what} "${value}" is absolute: in host mode it must be a path in the workspace (relative), ` +
          `or emerge would use the agent's own system`,
      );
    } else {
      const p = pathProblem(value);
      if (p !== undefined) at(path, p);
    }
  };

  const configs: EmergeConfig[] = [];
  const seenRoots = new Map<string, number>();
  w.configs.forEach((c, i) => {
    const configRoot = c.config_root ?? (chroot ? "/" : undefined);
    if (configRoot === undefined) {
      at(["configs", i, "config_root"], "is required in host mode (a directory in the workspace)");
      return;
    }
    checkPath(["configs", i, "config_root"], configRoot, "config_root");
    const norm = chroot ? configRoot : posix.normalize(configRoot);
    const earlier = seenRoots.get(norm);
    if (earlier !== undefined)
      at(["configs", i, "config_root"], `"${configRoot}" is already configured by configs[${earlier}]`);
    seenRoots.set(norm, i);
    checkEntries(c, (key, msg) => at(["configs", i, key], msg), w.binhost?.name);
    configs.push({ ...c, config_root: configRoot });
  });

  const pkgdir = w.pkgdir ?? (chroot ? CHROOT_DEFAULT_PKGDIR : HOST_DEFAULT_PKGDIR);
  checkPath(["pkgdir"], pkgdir, "pkgdir");

  w.emerge.forEach((inv, i) => {
    if (inv.cwd !== undefined) checkPath(["emerge", i, "cwd"], inv.cwd, "cwd");
    const env = { ...stage.env, ...inv.env };
    for (const name of PATH_ENV) {
      const value = env[name];
      const path = inv.env?.[name] !== undefined ? ["emerge", i, "env", name] : ["emerge", i, "env"];
      const from = inv.env?.[name] !== undefined ? "" : " (from the stage's env)";
      if (value !== undefined) checkPath(path, value, `${name}${from}`);
      else if (!chroot && name !== "SYSROOT")
        at(
          path,
          `${name} is required in host mode (a workspace directory), or emerge would use the agent's own ${
            name === "ROOT" ? "/" : "/etc/portage"
          }`,
        );
    }
    const eprefix = env["EPREFIX"];
    if (eprefix !== undefined && eprefix !== "") {
      const p = absProblem(eprefix);
      if (p !== undefined) at(["emerge", i, "env", "EPREFIX"], `${p} (EPREFIX is a prefix inside ROOT)`);
    }
  });

  if (problems.length > 0) throw invalid(stage, problems);
  return { ...w, configs, pkgdir };
}

function checkEntries(
  c: Omit<ConfigOut, "config_root">,
  at: (key: string, msg: string) => void,
  binhost: string | undefined,
): void {
  const written = new Map<string, string>();
  if (binhost !== undefined) written.set(`binrepos.conf/stagefarm-${binhost}.conf`, "binhost");
  for (const e of portageConfigEntries(c)) {
    const names = e.t === "dir" ? Object.keys(e.files).map((f) => `${e.rel}/${f}`) : [e.rel];
    for (const name of [e.rel, ...names]) {
      const other = written.get(name);
      if (other !== undefined && other !== e.key) {
        at(e.key, `etc/portage/${name} is also written by ${other}`);
        break;
      }
      written.set(name, e.key);
    }
  }
  // A file inside make.profile while make_profile replaces it, or below a file written elsewhere.
  for (const [name, key] of written)
    for (let d = posix.dirname(name); d !== "."; d = posix.dirname(d)) {
      const parent = written.get(d);
      if (parent !== undefined && parent !== key)
        at(key, `etc/portage/${name} is inside ${d}, written by ${parent}`);
    }
}

function invalid(stage: ResolvedStage, problems: string[]): StagefarmError {
  const list = problems.length === 1 ? ` ${problems[0] ?? ""}` : `\n  ${problems.join("\n  ")}`;
  return new StagefarmError("invalid_pipeline", `stage "${stage.name}" (runner emerge):${list}`, {
    details: { stage: stage.name, problems },
  });
}
