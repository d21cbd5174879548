/**
 * What a dead agent left in its work directory: at start, before it takes work, an agent kills
 * the process groups listed in the ledgers of the workspaces it finds (./process-ledger.ts) and
 * removes those workspaces. Its own workspaces do not exist yet, so everything there is stale.
 *
 * Two agents must not share a work directory (the second would sweep the first's stages): the
 * directory holds `.agent` with the owner's pid and start time; a live owner other than this
 * process refuses the sweep (and the start).
 */
import { lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { StagefarmError } from "../shared/errors.js";
import { killProcessGroup } from "./process-group.js";
import { listProcs, procInfo, readLedger, type ProcInfo } from "./process-ledger.js";
import { keptMarker, PRIVATE_DIR, removeWorkspace } from "./workspace.js";
import { errnoOf } from "../shared/util/fs.js";

export interface SweepResult {
  /** Process groups of a previous agent killed. */
  processGroups: number;
  /** Stale workspaces removed. */
  workspaces: number;
  /** Stale workspaces that could not be removed (logged at error). */
  failed: number;
  /** Stage cgroups (of stages with limits) removed. */
  cgroups: number;
}

/** The stage cgroups of a dead agent: named like their workspaces (./cgroup.ts). */
export interface StaleCgroups {
  removeStale(names: readonly string[]): Promise<number>;
}

const OWNER_FILE = ".agent";
const KEPT_SUFFIX = keptMarker("");
/** How long killed groups may take to disappear before the sweep gives up on them. */
const KILL_WAIT_MS = 10_000;

/** Claims `workRoot` for this process; fails when another live process holds it. */
async function claimWorkRoot(workRoot: string): Promise<void> {
  const file = join(workRoot, OWNER_FILE);
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (err: unknown) {
    if (errnoOf(err) !== "ENOENT") throw StagefarmError.from(err);
  }
  const m = /^(\d+) (\d+)\s*$/.exec(text);
  if (m?.[1] !== undefined && Number(m[1]) !== process.pid) {
    const owner = await procInfo(Number(m[1]));
    if (owner !== undefined && owner.startTime === m[2])
      throw new StagefarmError(
        "invalid_argument",
        `work directory ${workRoot} is in use by another agent (pid ${m[1]}); give each agent its own`,
      );
  }
  const self = await procInfo(process.pid);
  if (self === undefined) throw new StagefarmError("internal", "cannot read /proc/self/stat");
  await writeFile(file, `${process.pid} ${self.startTime}\n`);
}

/** Kills the groups a ledger lists that are still ours; returns their ids. */
function killListed(
  procs: readonly ProcInfo[],
  listed: Array<{ pgid: number; startTime: string }>,
): number[] {
  const killed: number[] = [];
  for (const g of listed) {
    const members = procs.filter((p) => p.pgrp === g.pgid);
    if (members.length === 0) continue;
    const leader = procs.find((p) => p.pid === g.pgid);
    // A live leader with another start time: the number was reused by an unrelated group.
    if (leader !== undefined && leader.startTime !== g.startTime) continue;
    killProcessGroup(g.pgid, "SIGKILL");
    killed.push(g.pgid);
  }
  return killed;
}

/**
 * Kills what a previous agent on `workRoot` left running and removes its workspaces, except
 * those kept for inspection (./workspace.ts `keptMarker`: left until removed by hand; a marker
 * whose workspace is gone is removed). Logs one line with the counts when there was anything;
 * never throws for a workspace it cannot remove (logged, counted in `failed`).
 */
export async function sweepStaleWork(
  workRoot: string,
  logger: Logger,
  opts: { cgroups?: StaleCgroups } = {},
): Promise<SweepResult> {
  await mkdir(workRoot, { recursive: true });
  await claimWorkRoot(workRoot);
  const result: SweepResult = { processGroups: 0, workspaces: 0, failed: 0, cgroups: 0 };
  const stale: string[] = [];
  const names = new Set(await readdir(workRoot));
  for (const name of names) {
    if (name === OWNER_FILE) continue;
    const dir = join(workRoot, name);
    if (name.endsWith(KEPT_SUFFIX)) {
      if (!names.has(name.slice(0, -KEPT_SUFFIX.length))) await rm(dir, { force: true });
    } else if ((await lstat(dir)).isDirectory() && !names.has(basename(keptMarker(dir)))) stale.push(dir);
  }
  if (stale.length === 0) return result;
  const procs = await listProcs();
  const killed: number[] = [];
  for (const dir of stale)
    killed.push(...killListed(procs, await readLedger(join(dir, PRIVATE_DIR, "pgroups"))));
  result.processGroups = killed.length;
  const deadline = Date.now() + KILL_WAIT_MS;
  const left = new Set(killed);
  while (left.size > 0 && Date.now() < deadline) {
    const now = new Set((await listProcs()).map((p) => p.pgrp));
    for (const g of left) if (!now.has(g)) left.delete(g);
    if (left.size > 0) await sleep(50);
  }
  if (left.size > 0)
    logger.error({ groups: [...left] }, "processes of a previous agent survived SIGKILL (uninterruptible?)");
  // Stages with limits ran in cgroups named like their workspaces: what is left there goes too
  // (also a process that left its process group with setsid).
  try {
    result.cgroups = (await opts.cgroups?.removeStale(stale.map((d) => basename(d)))) ?? 0;
  } catch (err: unknown) {
    logger.error({ err: StagefarmError.from(err) }, "could not remove a previous agent's stage cgroups");
  }
  for (const dir of stale) {
    try {
      await removeWorkspace(dir);
      result.workspaces++;
    } catch (err: unknown) {
      result.failed++;
      logger.error({ err: StagefarmError.from(err), workspace: dir }, "could not remove a stale workspace");
    }
  }
  logger.warn(
    { workRoot, ...result },
    `swept what a previous agent left: killed ${result.processGroups} process group(s), removed ${result.workspaces} workspace(s) and ${result.cgroups} cgroup(s)`,
  );
  return result;
}
