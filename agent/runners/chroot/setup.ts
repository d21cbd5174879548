/**
 * The setup script of a chroot run: bash, run as pid 1 of a fresh pid and mount namespace
 * (see ./exec.ts), on the host's file system. It
 *
 * 1. writes its own "<host pid> <start time>" to `initFile` (./namespace.ts: the caller
 *    waits for this process, and with it the namespaces, to be gone);
 * 2. mounts proc, sysfs (read-only), /dev (a minimal tmpfs or devtmpfs), dev/pts (a new devpts
 *    instance), a tmpfs on dev/shm, resolv.conf and the binds, at host paths already resolved
 *    inside the root (./paths.ts);
 * 3. opens the stage script as fd 9 and deletes it, the setup script and the resolv.conf
 *    content, then writes `startedFile`: from here on a failure is the script's;
 * 4. `umask 022`, then `env -i <env> chroot <root> <shell> [-l] -c '<run fd 9>'`.
 *
 * Every value is single-quoted into the text: nothing of it is interpreted by the shell.
 */
/** A host file or directory mounted into the root for one run. */
export interface ChrootBind {
  /** Absolute host path (a directory or a file). */
  source: string;
  /** Absolute path inside the root. */
  target: string;
  readonly: boolean;
}

export interface SetupPlan {
  root: string;
  /** Host paths of the mount points (resolved inside the root). */
  proc: string;
  sys: string;
  dev: string;
  devMode: "minimal" | "devtmpfs";
  /** A file bound read-only over `resolvConf.target`, or none. */
  resolvConf: { source: string; target: string } | undefined;
  /** Binds with `target` already a host path inside the root. */
  binds: ChrootBind[];
  scriptFile: string;
  /** Other files of the run directory, deleted once mounted. */
  deleteFiles: string[];
  initFile: string;
  startedFile: string;
  shell: string;
  login: boolean;
  env: Record<string, string>;
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Device nodes of the minimal /dev: name, major, minor (all mode 0666). */
const MINIMAL_NODES: ReadonlyArray<[string, number, number]> = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

const MINIMAL_LINKS: ReadonlyArray<[string, string]> = [
  ["ptmx", "pts/ptmx"],
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
];

/**
 * What the shell inside runs (after the profile, for a login shell): umask 022 again (a profile
 * may change it), fail on errors (and in pipes where the shell can), then the script.
 */
const INNER = [
  "umask 022",
  "set -e",
  "if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi",
  ". /proc/self/fd/9",
].join("\n");

export function setupScript(p: SetupPlan): string {
  const q = shQuote;
  const dev = p.dev;
  const lines = [
    "set -eu",
    // /proc is still the host's here: /proc/self/stat gives this process's host pid (field 1)
    // and start time (field 22, the 20th after the command name).
    "read -r sf_stat < /proc/self/stat",
    "set -- ${sf_stat##*) }",
    `printf '%s %s\\n' "\${sf_stat%% *}" "\${20}" > ${q(p.initFile)}`,
    `mount -t proc -o nosuid,nodev,noexec proc ${q(p.proc)}`,
    `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${q(p.sys)}`,
  ];
  if (p.devMode === "minimal") {
    lines.push(`mount -t tmpfs -o nosuid,noexec,mode=0755 stagefarm-dev ${q(dev)}`);
    for (const [name, major, minor] of MINIMAL_NODES)
      lines.push(`mknod -m 0666 ${q(`${dev}/${name}`)} c ${major} ${minor}`);
    for (const [name, target] of MINIMAL_LINKS) lines.push(`ln -s ${q(target)} ${q(`${dev}/${name}`)}`);
    lines.push(`mkdir -m 0755 ${q(`${dev}/pts`)} ${q(`${dev}/shm`)}`);
  } else {
    lines.push(`mount -t devtmpfs -o nosuid devtmpfs ${q(dev)}`);
    lines.push(`mkdir -p ${q(`${dev}/pts`)} ${q(`${dev}/shm`)}`);
  }
  lines.push(
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts ${q(`${dev}/pts`)}`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev shm ${q(`${dev}/shm`)}`,
  );
  const bindRo = (source: string, target: string, readonly: boolean): void => {
    lines.push(`mount --bind ${q(source)} ${q(target)}`);
    if (readonly) lines.push(`mount -o remount,bind,ro ${q(target)}`);
  };
  if (p.resolvConf) bindRo(p.resolvConf.source, p.resolvConf.target, true);
  for (const b of p.binds) bindRo(b.source, b.target, b.readonly);
  lines.push(
    `exec 9< ${q(p.scriptFile)}`,
    `rm -f ${[p.scriptFile, ...p.deleteFiles].map(q).join(" ")}`,
    `chroot_bin=$(command -v chroot)`,
    `: > ${q(p.startedFile)}`,
    "umask 022",
  );
  const envArgs = Object.entries(p.env).map(([k, v]) => q(`${k}=${v}`));
  const shellArgs = [p.shell, ...(p.login ? ["-l"] : []), "-c", INNER, p.shell].map(q);
  lines.push(`exec env -i -- ${envArgs.join(" ")} "$chroot_bin" ${q(p.root)} ${shellArgs.join(" ")}`);
  return `${lines.join("\n")}\n`;
}
