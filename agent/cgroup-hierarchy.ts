/**
 * Where this process's cgroups are: the cgroup file systems mounted on the host (from
 * `/proc/self/mountinfo`) and this process's group in each (from `/proc/self/cgroup`).
 *
 * - cgroup v2 (`cgroup2`): one hierarchy; the controllers a child of our group may use are
 *   listed in our group's `cgroup.controllers`.
 * - cgroup v1 (`cgroup`): one hierarchy per controller set; its super options name the
 *   controllers (`rw,memory`, `rw,cpu,cpuacct`); named hierarchies (`name=systemd`) hold none.
 *
 * A hybrid host (systemd's default before v2 became the default, and this build machine) has
 * both: cgroup2 under `/sys/fs/cgroup/unified` with no useful controller, memory and cpu in v1.
 * `ownDir` is the directory of our group: the mount point plus our path relative to the
 * mount's root (a container may mount a subtree). Pure parsing here; ./cgroup.ts decides.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../shared/errors.js";

export interface CgroupHierarchy {
  version: 1 | 2;
  mount: string;
  /** v1: the controllers bound to this hierarchy; v2: those our group's children may use. */
  controllers: string[];
  /** The directory of this process's own group in this hierarchy. */
  ownDir: string;
}

interface Mount {
  fstype: "cgroup" | "cgroup2";
  /** The root of the mount inside its hierarchy ("/" unless a subtree is mounted). */
  root: string;
  mountPoint: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The cgroup mounts listed in a mountinfo text. */
export function parseCgroupMounts(mountinfo: string): Mount[] {
  const out: Mount[] = [];
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    out.push({
      fstype,
      root: unescape(fields[3] ?? "/"),
      mountPoint: unescape(fields[4] ?? ""),
      superOptions: (fields[sep + 3] ?? "").split(","),
    });
  }
  return out;
}

/** The lines of /proc/self/cgroup: hierarchy id, controllers (v1), path. */
export function parseProcCgroup(text: string): Array<{ id: number; controllers: string[]; path: string }> {
  const out: Array<{ id: number; controllers: string[]; path: string }> = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    out.push({ id: Number(m[1]), controllers: m[2] === "" ? [] : m[2].split(","), path: m[3] });
  }
  return out;
}

/** Our group's directory under a mount, or undefined when our path is outside the mounted subtree. */
function ownDirOf(mount: Mount, path: string): string | undefined {
  const root = mount.root === "/" ? "" : mount.root;
  if (path !== root && !path.startsWith(`${root}/`)) return undefined;
  return join(mount.mountPoint, path.slice(root.length));
}

const V1_CONTROLLERS = new Set([
  "memory",
  "cpu",
  "cpuacct",
  "cpuset",
  "pids",
  "blkio",
  "io",
  "devices",
  "freezer",
]);

/**
 * The hierarchies this process can place children in, read from `procSelf` (default
 * /proc/self: `mountinfo`, `cgroup`). A mount our group is not below is skipped.
 */
export async function findHierarchies(procSelf = "/proc/self"): Promise<CgroupHierarchy[]> {
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = await readFile(join(procSelf, "mountinfo"), "utf8");
    membership = await readFile(join(procSelf, "cgroup"), "utf8");
  } catch (err: unknown) {
    throw new StagefarmError("internal", `cannot read this process's cgroups from ${procSelf}`, {
      cause: err,
    });
  }
  const mounts = parseCgroupMounts(mountinfo);
  const lines = parseProcCgroup(membership);
  const out: CgroupHierarchy[] = [];
  const v2 = mounts.find((m) => m.fstype === "cgroup2");
  const v2Line = lines.find((l) => l.id === 0 && l.controllers.length === 0);
  if (v2 !== undefined && v2Line !== undefined) {
    const ownDir = ownDirOf(v2, v2Line.path);
    if (ownDir !== undefined)
      out.push({ version: 2, mount: v2.mountPoint, controllers: await v2Controllers(ownDir), ownDir });
  }
  for (const m of mounts) {
    if (m.fstype !== "cgroup") continue;
    const controllers = m.superOptions.filter((o) => V1_CONTROLLERS.has(o));
    if (controllers.length === 0) continue;
    const line = lines.find((l) => l.controllers.some((c) => controllers.includes(c)));
    const ownDir = line === undefined ? undefined : ownDirOf(m, line.path);
    if (ownDir !== undefined) out.push({ version: 1, mount: m.mountPoint, controllers, ownDir });
  }
  return out;
}

async function v2Controllers(ownDir: string): Promise<string[]> {
  try {
    return (await readFile(join(ownDir, "cgroup.controllers"), "utf8")).split(/\s+/).filter((c) => c !== "");
  } catch {
    return [];
  }
}
