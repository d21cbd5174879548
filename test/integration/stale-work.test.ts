/**
 * The start-up sweep of a dead agent's leftovers, with real processes: a stage's process group
 * recorded in its workspace's ledger by runInProcessGroup is killed (background children too) and
 * the workspace removed; a ledger line naming a group whose leader is another process now (a
 * reused id) is left alone; a work directory held by another live process is refused.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  CgroupManager,
  runInProcessGroup,
  listProcs,
  procInfo,
  readLedger,
  withProcessLedger,
  sweepStaleWork,
} from "../../agent/testing.js";
import { silentLogger } from "../../shared/log.js";
import { poll } from "../helpers/poll.js";

test("a dead agent's process groups are killed and its workspaces removed; a reused group id is spared", async () => {
  const root = await mkdtemp(join(tmpdir(), "sf-stale-"));
  const bystander = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
  const abort = new AbortController();
  try {
    const ws = join(root, "run-stage-1-abcd");
    await mkdir(join(ws, ".stagefarm"), { recursive: true });
    const ledger = join(ws, ".stagefarm", "pgroups");
    // A stage whose runner left a background child, still running when "the agent died".
    const stage = withProcessLedger(ledger, () =>
      runInProcessGroup("bash", ["-c", "sleep 300 & sleep 300"], {
        cwd: ws,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
        signal: abort.signal,
        onOutput: () => undefined,
      }),
    );
    const [group] = await poll(
      async () => {
        const l = await readLedger(ledger);
        return l.length === 1 ? l : undefined;
      },
      { timeoutMs: 30_000, what: "the group in the ledger" },
    );
    assert.ok(group !== undefined);
    await poll(async () => (await listProcs()).filter((p) => p.pgrp === group.pgid).length >= 3, {
      timeoutMs: 30_000,
      what: "bash and both sleeps",
    });
    // A ledger line naming the bystander with a wrong start time: a reused id, not ours.
    const other = join(root, "run-other-1-ef01");
    await mkdir(join(other, ".stagefarm"), { recursive: true });
    const pid = bystander.pid ?? 0;
    await writeFile(join(other, ".stagefarm", "pgroups"), `${pid} 1\n`);

    const r = await sweepStaleWork(root, silentLogger());
    assert.deepEqual(r, { processGroups: 1, workspaces: 2, failed: 0, cgroups: 0 });
    assert.deepEqual(
      (await listProcs()).filter((p) => p.pgrp === group.pgid),
      [],
      "every process of the stage's group is gone",
    );
    assert.ok((await procInfo(pid)) !== undefined, "the bystander with a reused id lives");
    assert.deepEqual(await readdir(root), [".agent"], "the workspaces are gone");
    const outcome = await stage;
    assert.equal(outcome.signal, "SIGKILL");

    // Another live process holds the directory: no sweep.
    await writeFile(join(root, ".agent"), `${pid} ${(await procInfo(pid))?.startTime ?? ""}\n`);
    await assert.rejects(sweepStaleWork(root, silentLogger()), /in use by another agent/);
  } finally {
    abort.abort();
    bystander.kill("SIGKILL");
    await rm(root, { recursive: true, force: true });
  }
});

test("a dead agent's stage cgroup (a stage with limits) is emptied and removed by the sweep", async () => {
  const root = await mkdtemp(join(tmpdir(), "sf-stale-"));
  const manager = new CgroupManager({ killTimeoutMs: 5000 });
  // A fresh name: a cgroup left by an earlier, interrupted run of this test must not collide.
  const name = `run-limited-1-${randomBytes(2).toString("hex")}`;
  const abort = new AbortController();
  try {
    await mkdir(join(root, name), { recursive: true });
    const cgroup = await manager.create(name, { memoryBytes: 64 << 20 }, 'stage "limited"');
    // A process that left every process group (setsid): only its cgroup still holds it.
    // The leader waits until the child has its own session before it exits: were it to exit
    // first, the end of the stage's group would take the child with it (it had not escaped yet).
    const escape = [
      "setsid sleep 300 &",
      "child=$!",
      'while :; do set -- $(cat /proc/$child/stat 2>/dev/null); [ "${6:-}" = "$child" ] && exit 0; done',
    ].join("\n");
    const cmd = cgroup.wrap("sh", ["-c", escape]);
    const started = runInProcessGroup(cmd.file, cmd.args, {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
      signal: abort.signal,
      onOutput: () => undefined,
    });
    const procs = join(cgroup.dirs[0] ?? "", "cgroup.procs");
    const pid = await poll(
      async () => {
        const pids = (await readFile(procs, "utf8")).split("\n").filter((l) => l !== "");
        return pids.length === 1 ? Number(pids[0]) : undefined;
      },
      { timeoutMs: 30_000, what: "the escaped sleep in the cgroup" },
    );
    const r = await sweepStaleWork(root, silentLogger(), { cgroups: manager });
    assert.equal(r.cgroups, 1);
    assert.equal(await procInfo(pid), undefined, "the escaped process is gone");
    for (const dir of cgroup.dirs) await assert.rejects(readdir(dir), /ENOENT/, `${dir} removed`);
    abort.abort();
    await started;
  } finally {
    abort.abort();
    await rm(root, { recursive: true, force: true });
  }
});
