/**
 * Per-stage cgroups: memory and CPU limits for the processes of one stage.
 *
 * Protocol
 * - `CgroupManager.create(name, limits)` makes the stage's group `<own>/stagefarm/<name>`
 *   below the agent's own group (`<own>`, ./cgroup-hierarchy.ts) and writes the limits
 *   (./cgroup-limits.ts). cgroup v2 is used when it offers every controller the limits need;
 *   else cgroup v1 when every one has a v1 hierarchy (hybrid hosts); else, or when the group
 *   cannot be created or written, it throws `invalid_argument`: a stage with limits never runs
 *   without them.
 * - On v2 the controllers are enabled in `<own>/cgroup.subtree_control` and in `stagefarm/`'s.
 *   A non-root group that holds processes cannot enable them (the "no internal processes"
 *   rule): the agent then moves itself into `<own>/agent` first, as a delegated service
 *   (systemd `Delegate=yes`) must.
 * - A command joins the group before it runs: `StageCgroup.wrap()` puts it behind a `/bin/sh`
 *   that writes its own pid to every `cgroup.procs` of the group and then `exec`s the command,
 *   so the process-group leader and everything it starts are in the group from the first
 *   instruction. The wrapper touches a marker file only after joining: `joined()` tells a
 *   command that never ran from one that ran confined.
 * - `close()` kills whatever is left in the group (also processes that left the stage's process
 *   group), waits until it is empty and removes it. Idempotent; every step runs even when one
 *   fails.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../shared/errors.js";
import { errnoOf, exists } from "../shared/util/fs.js";
import type { Logger } from "../shared/log.js";
import { describeLimits, type StageLimits } from "../shared/pipeline/index.js";
import { findHierarchies, type CgroupHierarchy } from "./cgroup-hierarchy.js";
import { controllersFor, limitWrites, oomEventsFile, parseOomKills } from "./cgroup-limits.js";

export interface CgroupManagerOptions {
  /** Where this process's mounts and groups are read (default /proc/self). */
  procSelf?: string;
  /** The group below the agent's own that holds the stage groups (default "stagefarm"). */
  groupName?: string;
  /** How long close() waits for the processes of a group to be gone (default 10 s). */
  killTimeoutMs?: number;
  logger?: Logger;
}

/** A command that joins a stage's cgroup before it runs (see {@link StageCgroup.wrap}). */
export interface CgroupCommand {
  file: string;
  args: string[];
  /** Whether the wrapper joined the group and started the command. */
  joined(): Promise<boolean>;
}

type Controller = "memory" | "cpu";

const JOIN_SCRIPT = [
  "marker=$1; shift",
  'while [ "$1" != -- ]; do',
  '  echo $$ > "$1" || { echo "stagefarm: cannot move the stage into the cgroup of $1" >&2; exit 125; }',
  "  shift",
  "done",
  "shift",
  ': > "$marker" || exit 125',
  'exec "$@"',
].join("\n");

/** mkdir that accepts an existing directory; not recursive, so errors name the real cause. */
async function mkdirOnce(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err: unknown) {
    if (errnoOf(err) !== "EEXIST") throw err;
  }
}

/** Adds `controllers` to a group's cgroup.subtree_control unless they are there. */
async function enableControllers(dir: string, controllers: readonly Controller[]): Promise<void> {
  const file = join(dir, "cgroup.subtree_control");
  const enabled = (await readFile(file, "utf8")).split(/\s+/);
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length > 0) await writeFile(file, missing.map((c) => `+${c}`).join(" "));
}

export class CgroupManager {
  readonly #opts: Required<Omit<CgroupManagerOptions, "logger">> & { logger: Logger | undefined };
  #hierarchies: Promise<CgroupHierarchy[]> | undefined;
  /** v2: the parent groups already prepared, by directory. */
  readonly #prepared = new Map<string, Promise<void>>();

  constructor(opts: CgroupManagerOptions = {}) {
    this.#opts = {
      procSelf: opts.procSelf ?? "/proc/self",
      groupName: opts.groupName ?? "stagefarm",
      killTimeoutMs: opts.killTimeoutMs ?? 10_000,
      logger: opts.logger,
    };
  }

  /**
   * Creates the group `name` with `limits`. `what` names the stage in errors
   * (`stage "build"`). Throws `invalid_argument` when this host cannot enforce the limits.
   */
  async create(name: string, limits: StageLimits, what: string): Promise<StageCgroup> {
    const needed = controllersFor(limits);
    const refuse = (why: string, cause?: unknown): StagefarmError =>
      new StagefarmError(
        "invalid_argument",
        `${what} asks for limits (${describeLimits(limits)}) but this agent cannot enforce them: ${why}; the stage was not run`,
        { cause, details: { limits } },
      );
    if (needed.length === 0) throw new StagefarmError("internal", `${what}: no limits to apply`);
    this.#hierarchies ??= findHierarchies(this.#opts.procSelf);
    const all = await this.#hierarchies;
    const v2 = all.find((h) => h.version === 2);
    let version: 1 | 2;
    const dirOf = new Map<Controller, string>();
    if (v2 !== undefined && needed.every((c) => v2.controllers.includes(c))) {
      version = 2;
      const parent = join(v2.ownDir, this.#opts.groupName);
      try {
        await this.#prepareV2(v2, parent, needed);
      } catch (err: unknown) {
        throw refuse(`cannot set up the cgroup ${parent}: ${StagefarmError.from(err).message}`, err);
      }
      for (const c of needed) dirOf.set(c, join(parent, name));
    } else {
      version = 1;
      for (const c of needed) {
        const h = all.find((x) => x.version === 1 && x.controllers.includes(c));
        if (h === undefined) throw refuse(whyUnavailable(c, all));
        dirOf.set(c, join(h.ownDir, this.#opts.groupName, name));
      }
    }

    const dirs = [...new Set(dirOf.values())];
    const created: string[] = [];
    try {
      for (const dir of dirs) {
        await mkdirOnce(dirname(dir));
        await mkdir(dir);
        created.push(dir);
      }
      for (const w of limitWrites(version, limits)) {
        const file = join(dirOf.get(w.controller) ?? "", w.file);
        if (w.optional && !(await exists(file))) continue;
        try {
          await writeFile(file, w.value);
        } catch (err: unknown) {
          throw new StagefarmError(
            "internal",
            `cannot write ${w.value} to ${file} (${errnoOf(err) ?? "error"})`,
            {
              cause: err,
            },
          );
        }
      }
    } catch (err: unknown) {
      await Promise.allSettled(created.map((d) => rmdir(d)));
      const e = StagefarmError.from(err);
      throw refuse(
        created.length < dirs.length
          ? `cannot create the cgroup ${dirs[created.length] ?? ""}: ${e.message}`
          : e.message,
        err,
      );
    }
    const markers = await mkdtemp(join(tmpdir(), "sf-cgroup-"));
    return new StageCgroup(version, dirOf, limits, markers, this.#opts.killTimeoutMs, this.#opts.logger);
  }

  /**
   * Kills what is left in the groups `names` a previous agent made below this agent's group (it
   * was SIGKILLed while stages with limits ran) and removes them. Returns how many it removed; a
   * host without cgroups has none. On v2 a predecessor that moved itself into the `agent` leaf
   * left its stage groups beside it.
   */
  async removeStale(names: readonly string[]): Promise<number> {
    if (names.length === 0) return 0;
    this.#hierarchies ??= findHierarchies(this.#opts.procSelf);
    let all: CgroupHierarchy[];
    try {
      all = await this.#hierarchies;
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      let version: 1 | 2 = 1;
      const dirOf = new Map<Controller, string>();
      for (const h of all) {
        const bases =
          h.version === 2 && basename(h.ownDir) === "agent" ? [h.ownDir, dirname(h.ownDir)] : [h.ownDir];
        for (const base of bases) {
          const dir = join(base, this.#opts.groupName, name);
          if (!(await exists(dir))) continue;
          if (h.version === 2) {
            version = 2;
            dirOf.clear();
            dirOf.set("memory", dir);
          } else if (version === 1)
            for (const c of h.controllers) if (c === "memory" || c === "cpu") dirOf.set(c, dir);
        }
      }
      if (dirOf.size === 0) continue;
      const markers = await mkdtemp(join(tmpdir(), "sf-cgroup-"));
      await new StageCgroup(version, dirOf, {}, markers, this.#opts.killTimeoutMs, this.#opts.logger).close();
      removed++;
    }
    return removed;
  }

  /** Enables the controllers for `parent` (below our own group) and creates it; once per parent. */
  #prepareV2(h: CgroupHierarchy, parent: string, needed: readonly Controller[]): Promise<void> {
    const key = `${parent}\0${needed.join(",")}`;
    let p = this.#prepared.get(key);
    if (p === undefined) {
      p = (async () => {
        try {
          await enableControllers(h.ownDir, needed);
        } catch (err: unknown) {
          if (errnoOf(err) !== "EBUSY" || h.ownDir === h.mount) throw err;
          // Our group holds processes (us): move the agent into a leaf, then enable.
          const leaf = join(h.ownDir, "agent");
          await mkdirOnce(leaf);
          await writeFile(join(leaf, "cgroup.procs"), String(process.pid));
          this.#opts.logger?.info({ cgroup: leaf }, "moved the agent into its own leaf cgroup");
          try {
            await enableControllers(h.ownDir, needed);
          } catch (again: unknown) {
            if (errnoOf(again) !== "EBUSY") throw again;
            throw new StagefarmError(
              "internal",
              `the agent's cgroup ${h.ownDir} holds other processes; run the agent in a cgroup of its own (systemd: Delegate=yes)`,
              { cause: again },
            );
          }
        }
        await mkdirOnce(parent);
        await enableControllers(parent, needed);
      })();
      this.#prepared.set(key, p);
      p.catch(() => this.#prepared.delete(key));
    }
    return p;
  }
}

function whyUnavailable(controller: Controller, all: readonly CgroupHierarchy[]): string {
  const v2 = all.find((h) => h.version === 2);
  const v2Text =
    v2 === undefined
      ? "no cgroup2 file system is mounted"
      : `cgroup2 at ${v2.mount} offers ${v2.controllers.length === 0 ? "no controller" : v2.controllers.join(" ")} to the agent's group`;
  return `no cgroup hierarchy offers the ${controller} controller (${v2Text}; no cgroup v1 ${controller} hierarchy is mounted)`;
}

export class StageCgroup implements AsyncDisposable {
  readonly version: 1 | 2;
  readonly limits: StageLimits;
  /** The group's directories (one on v2; one per hierarchy on v1). */
  readonly dirs: readonly string[];
  readonly #dirOf: ReadonlyMap<Controller, string>;
  readonly #markers: string;
  readonly #killTimeoutMs: number;
  readonly #log: Logger | undefined;
  #closed: Promise<void> | undefined;

  constructor(
    version: 1 | 2,
    dirOf: ReadonlyMap<Controller, string>,
    limits: StageLimits,
    markers: string,
    killTimeoutMs: number,
    logger: Logger | undefined,
  ) {
    this.version = version;
    this.#dirOf = dirOf;
    this.dirs = [...new Set(dirOf.values())];
    this.limits = limits;
    this.#markers = markers;
    this.#killTimeoutMs = killTimeoutMs;
    this.#log = logger;
  }

  /** "cgroup v1 /sys/fs/cgroup/memory/…/stagefarm/x, /sys/fs/cgroup/cpu/stagefarm/x". */
  get describe(): string {
    return `cgroup v${this.version} ${this.dirs.join(", ")}`;
  }

  /** `file args…` run through the joining wrapper (see the module comment). */
  wrap(file: string, args: readonly string[]): CgroupCommand {
    const marker = join(this.#markers, randomBytes(8).toString("hex"));
    const procs = this.dirs.map((d) => join(d, "cgroup.procs"));
    return {
      file: "/bin/sh",
      args: ["-c", JOIN_SCRIPT, "stagefarm-cgroup-join", marker, ...procs, "--", file, ...args],
      joined: () => exists(marker),
    };
  }

  /** Processes the kernel killed in this group for exceeding its memory limit. */
  async oomKills(): Promise<number> {
    const dir = this.#dirOf.get("memory");
    if (dir === undefined) return 0;
    try {
      return parseOomKills(await readFile(join(dir, oomEventsFile(this.version)), "utf8"));
    } catch (err: unknown) {
      this.#log?.warn({ err: StagefarmError.from(err), cgroup: dir }, "cannot read the cgroup's OOM count");
      return 0;
    }
  }

  /** Kills what is left in the group, removes it and the markers. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const errors: StagefarmError[] = [];
    const step = async (fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err: unknown) {
        errors.push(StagefarmError.from(err));
      }
    };
    const deadline = Date.now() + this.#killTimeoutMs;
    await step(() => this.#killAll(deadline));
    for (const dir of this.dirs) await step(() => removeGroup(dir, deadline));
    await step(() => rm(this.#markers, { recursive: true, force: true }));
    const [first] = errors;
    if (first !== undefined) throw first;
  }

  async #killAll(deadline: number): Promise<void> {
    if (this.version === 2) {
      const kill = join(this.dirs[0] ?? "", "cgroup.kill");
      if (await exists(kill)) await writeFile(kill, "1");
    }
    for (;;) {
      const pids = new Set<number>();
      for (const dir of this.dirs) for (const pid of await readPids(dir)) pids.add(pid);
      let alive = 0;
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
          alive++;
        } catch (err: unknown) {
          if (errnoOf(err) !== "ESRCH") throw StagefarmError.from(err);
        }
      }
      // The kernel lists live members only; a pid that is gone is not waited for.
      if (alive === 0) return;
      if (Date.now() > deadline)
        throw new StagefarmError(
          "internal",
          `processes ${[...pids].join(", ")} are still in ${this.describe} after SIGKILL`,
        );
      await sleep(20);
    }
  }
}

async function readPids(dir: string): Promise<number[]> {
  try {
    const text = await readFile(join(dir, "cgroup.procs"), "utf8");
    return text
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT") return [];
    throw err;
  }
}

/** rmdir of an emptied group; the kernel may still be finishing the last exit (EBUSY). */
async function removeGroup(dir: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err: unknown) {
      const code = errnoOf(err);
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline)
        throw new StagefarmError("internal", `cannot remove the cgroup ${dir} (${code ?? "error"})`, {
          cause: err,
        });
      await sleep(20);
    }
  }
}
