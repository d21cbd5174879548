/**
 * Reading the shipped deploy/ files the way their init systems do, for the deploy tests: a
 * systemd unit's `ExecStart` and `EnvironmentFile`s, an environment file (systemd's KEY=VALUE
 * form, which the OpenRC scripts also source), and an OpenRC script evaluated by /bin/sh after
 * its conf.d (as openrc-run does), with the functions openrc-run provides replaced by stand-ins,
 * giving the command, its arguments and the environment supervise-daemon would pass on.
 *
 * Placeholders are filled by {@link render}: each pair replaces every occurrence, and the result
 * must not keep any documented placeholder (`example.org` names, `@…@` secrets, the install
 * paths), so a placeholder the docs do not name, or a file left out of a substitution, fails.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { StagefarmError } from "../../shared/errors.js";

const run = promisify(execFile);

/** Replaces every `from` by its `to`, in order; then refuses any placeholder left over. */
export function render(text: string, pairs: ReadonlyArray<readonly [string, string]>, what: string): string {
  let out = text;
  for (const [from, to] of pairs) out = out.split(from).join(to);
  // A filled path may end in the placeholder's own text (TMP/a/etc/stagefarm): only a path that
  // starts with it is left unfilled.
  const left = /[A-Za-z0-9.-]*\.example\.org|@[A-Z0-9_]+@|(?<![\w./-])\/(?:opt|etc|var\/lib)\/stagefarm/.exec(
    out.replace(/^\s*#.*$/gm, ""),
  );
  if (left !== null)
    throw new StagefarmError("internal", `${what}: placeholder ${JSON.stringify(left[0])} left unfilled`);
  return out;
}

/** A unit file's sections: every key with its values in order (keys may repeat). */
export type Unit = Record<string, Record<string, string[]>>;

export function parseUnit(text: string, file: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.endsWith("\\"))
      throw new StagefarmError("internal", `${file}:${i + 1}: continued lines are not supported here`);
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head !== null) {
      section = unit[head[1] ?? ""] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv === null || section === undefined)
      throw new StagefarmError("internal", `${file}:${i + 1}: not a unit file line: ${line}`);
    const key = kv[1] ?? "";
    (section[key] ??= []).push(kv[2] ?? "");
  }
  return unit;
}

/** The one value of `key` in `[section]`; throws when absent or repeated. */
export function unitValue(unit: Unit, section: string, key: string): string {
  const v = unit[section]?.[key];
  if (v?.length !== 1 || v[0] === undefined)
    throw new StagefarmError("internal", `[${section}] ${key}: expected one value, got ${JSON.stringify(v)}`);
  return v[0];
}

/**
 * `ExecStart` as argv. The shipped lines use no quoting, specifiers or variables; one that does
 * is refused here rather than split wrongly.
 */
export function execStartArgv(unit: Unit): string[] {
  const line = unitValue(unit, "Service", "ExecStart");
  if (/["'$%\\;]/.test(line) || /^[-@:+!]/.test(line))
    throw new StagefarmError("internal", `ExecStart uses syntax this test does not interpret: ${line}`);
  return line.split(/\s+/).filter((a) => a !== "");
}

/** The unit's environment files (a leading `-`, "may be missing", is refused: they must exist). */
export function environmentFiles(unit: Unit): string[] {
  return (unit["Service"]?.["EnvironmentFile"] ?? []).map((f) => {
    if (f.startsWith("-"))
      throw new StagefarmError("internal", `EnvironmentFile=${f}: optional files not expected`);
    return f;
  });
}

/**
 * A KEY=VALUE environment file in the subset both systemd and POSIX sh read alike: no quotes,
 * no spaces, no `$`, backslash or backquote in values. Anything else is refused.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Z_][A-Z0-9_]*)=([^\s"'$`\\]*)$/.exec(line);
    if (m === null)
      throw new StagefarmError("internal", `${file}:${i + 1}: not a plain KEY=VALUE line: ${line}`);
    const key = m[1] ?? "";
    if (Object.hasOwn(env, key)) throw new StagefarmError("internal", `${file}:${i + 1}: ${key} set twice`);
    env[key] = m[2] ?? "";
  }
  return env;
}

/** Parses a systemd time span of the forms the units use (`30s`, `35m`, `12h`) into seconds. */
export function timeSpanSeconds(text: string): number {
  const m = /^(\d+)(s|min|m|h)?$/.exec(text.trim());
  if (m === null) throw new StagefarmError("internal", `time span ${text}: not understood here`);
  const unit = m[2] ?? "s";
  return Number(m[1]) * (unit === "h" ? 3600 : unit === "s" ? 1 : 60);
}

/** What an OpenRC service would start: the command, its arguments, the daemon's environment. */
export interface OpenrcService {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** The supervise-daemon variables (`retry`, `respawn_max`, …) and `supervisor`. */
  vars: Record<string, string>;
}

// openrc-run's helpers as stand-ins; checkpath makes the directories it is asked for.
const OPENRC_STUBS = `
ebegin() { :; }
eend() { return "\${1:-0}"; }
einfo() { :; }
ewarn() { echo "ewarn: $*" >&2; }
eerror() { echo "eerror: $*" >&2; }
checkpath() {
  while [ $# -gt 0 ]; do
    case $1 in
      -d) ;;
      -m|-o) shift ;;
      -*) echo "checkpath: option $1 not stubbed" >&2; return 1 ;;
      *) mkdir -p "$1" || return 1 ;;
    esac
    shift
  done
}
`;

const VARS = [
  "supervisor",
  "retry",
  "respawn_delay",
  "respawn_max",
  "respawn_period",
  "output_logger",
  "error_logger",
];

/**
 * Sources `confd` then `initd` in /bin/sh (`set -e`), runs `start_pre`, and prints what
 * supervise_start would use: `$command`, `$command_args` split as its `eval` splits them, the
 * exported environment, and the supervise-daemon variables.
 */
export async function evalOpenrcService(
  initd: string,
  confd: string,
  svcname: string,
  path: string,
): Promise<OpenrcService> {
  const script = `${OPENRC_STUBS}
set -e
RC_SVCNAME=${svcname}
. "$1"
. "$2"
start_pre
printf 'command\\0%s\\0' "$command"
eval "set -- $command_args"
printf 'args\\0%s\\0' "$#"
for a in "$@"; do printf '%s\\0' "$a"; done
${VARS.map((v) => `printf 'var\\0${v}\\0%s\\0' "\${${v}-}"`).join("\n")}
printf 'env\\0'
env -0
`;
  const { stdout, stderr } = await run("/bin/sh", ["-c", script, "openrc-eval", confd, initd], {
    env: { PATH: path },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  }).catch((err: unknown) => {
    const e = err as { stderr?: string };
    throw new StagefarmError("internal", `evaluating ${initd} failed: ${e.stderr ?? String(err)}`, {
      cause: err,
    });
  });
  if (stderr.trim() !== "") throw new StagefarmError("internal", `evaluating ${initd} said: ${stderr}`);
  const parts = stdout.split("\0");
  let i = 0;
  const next = (): string => {
    const v = parts[i++];
    if (v === undefined) throw new StagefarmError("internal", `short output evaluating ${initd}`);
    return v;
  };
  const expect = (tag: string): void => {
    const got = next();
    if (got !== tag) throw new StagefarmError("internal", `expected ${tag}, got ${JSON.stringify(got)}`);
  };
  expect("command");
  const command = next();
  expect("args");
  const n = Number(next());
  const args = Array.from({ length: n }, next);
  const vars: Record<string, string> = {};
  for (const v of VARS) {
    expect("var");
    expect(v);
    vars[v] = next();
  }
  expect("env");
  const env: Record<string, string> = {};
  for (const entry of parts.slice(i)) {
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // The shell's own variables are not settings.
  for (const k of ["PWD", "SHLVL", "_", "OLDPWD"]) delete env[k];
  return { command, args, env, vars };
}

/** The stop schedule of a supervise-daemon `retry` (SIGTERM/2100/SIGKILL/10): seconds before SIGKILL. */
export function retryGraceSeconds(retry: string): number {
  const m = /^SIG(?:TERM|INT)\/(\d+)(?:\/SIGKILL\/\d+)?$/.exec(retry);
  if (m === null) throw new StagefarmError("internal", `retry=${retry}: expected SIGTERM/N[/SIGKILL/M]`);
  return Number(m[1]);
}
