/**
 * Per-stage memory and CPU limits with real cgroups, through the stage executor: the script
 * runs inside a group of its own (named like its workspace, removed afterwards), a stage over
 * its memory limit fails with "killed: memory limit … exceeded" (shell and chroot runners), a
 * CPU limit throttles it, processes that left the stage's process group die with the group,
 * and a host that cannot enforce limits (no usable controller, a read-only cgroup file system)
 * fails the stage before anything runs.
 *
 * This machine is a hybrid host: cgroup2 (under /sys/fs/cgroup/unified) has no memory or cpu
 * controller, so the real groups here are cgroup v1 ones, below the test process's own group.
 */
import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { CgroupManager } from "../../agent/testing.js";
import { findHierarchies } from "../../agent/testing.js";
import { StageExecutor } from "../../agent/index.js";
import { createChrootRunner } from "../../agent/runners/chroot/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { silentLogger } from "../../shared/log.js";
import type { ArtifactRef } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { debootstrapRootfs } from "../helpers/debootstrap.js";
import { chrootStage, failure, job as makeJob, output, shellStage } from "./agent-hardening-helpers.js";
import { poll } from "../helpers/poll.js";

const MiB = 1 << 20;
/** Holds 150 MB in memory: /dev/zero has no newline, so tail keeps all of it as one line. */
const HOG = "head -c 150000000 /dev/zero | tail | wc -c | sed 's/^/survived /'";

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The runs of this file's jobs: their groups are named `<run>-<stage>-<attempt>-<random>`. */
const runs = new Set<string>();
function job(...args: Parameters<typeof makeJob>): ReturnType<typeof makeJob> {
  const j = makeJob(...args);
  runs.add(j.runId);
  return j;
}

/** Groups of this file's stages left under any hierarchy's stagefarm/ group of this process
 *  (another test file may run limited stages at the same time: theirs are not counted). */
async function leftoverGroups(): Promise<string[]> {
  const out: string[] = [];
  for (const h of await findHierarchies()) {
    const parent = join(h.ownDir, "stagefarm");
    for (const name of await readdir(parent, { withFileTypes: true }).catch(() => []))
      if (name.isDirectory() && [...runs].some((r) => name.name.startsWith(`${r}-`)))
        out.push(join(parent, name.name));
  }
  return out;
}

void describe("stage limits (cgroups)", { timeout: 900_000 }, () => {
  let dir: string;
  let workRoot: string;
  let store: FsArtifactStore;
  let executor: StageExecutor;
  let base: ArtifactRef;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-limits-"));
    workRoot = join(dir, "work");
    store = await FsArtifactStore.open(join(dir, "store"));
    base = await debootstrapRootfs(store);
    executor = new StageExecutor({
      store,
      workRoot,
      logger: silentLogger(),
      runners: [createShellRunner({ killGraceMs: 200 }), createChrootRunner({ killGraceMs: 200 })],
    });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
    // The agent keeps its stagefarm/ parent groups; the test leaves none behind (one still in
    // use by another test file stays: rmdir refuses a group with children).
    for (const h of await findHierarchies()) await rmdir(join(h.ownDir, "stagefarm")).catch(() => undefined);
  });

  async function run(j: ReturnType<typeof job>): Promise<{ log: string; outputs: Record<string, string> }> {
    let log = "";
    const result = await executor.execute(j, {
      signal: new AbortController().signal,
      jobs: 1,
      onLog: (c) => (log += c),
    });
    const outputs: Record<string, string> = {};
    for (const [name, o] of Object.entries(result.outputs))
      outputs[name] = await text(await store.getBlob(o.digest));
    return { log, outputs };
  }

  async function assertClean(): Promise<void> {
    assert.deepEqual(await readdir(workRoot), [], "the workspace is removed");
    assert.deepEqual(await leftoverGroups(), [], "the stage's cgroup is removed");
  }

  test("a limited shell stage runs inside a cgroup of its own, named like its workspace", async () => {
    const s = shellStage("confined", "mkdir -p out && cat /proc/self/cgroup > out/cgroup", {
      outputs: [output("cgroup", "out/cgroup", { kind: "file" })],
      limits: { memoryBytes: 256 * MiB, cpu: 1 },
    });
    const j = job(s);
    const { log, outputs } = await run(j);
    assert.match(log, /running shell runner with limits memory 256M, cpu 1 \(cgroup v[12] /);
    const lines = (outputs["cgroup"] ?? "").split("\n");
    const group = new RegExp(`/stagefarm/${j.runId}-confined-1-[0-9a-f]{8}$`);
    for (const controller of ["memory", "cpu"]) {
      const line = lines.find((l) => l.split(":")[1]?.split(",").includes(controller) || l.startsWith("0::"));
      assert.ok(
        line !== undefined && group.test(line),
        `the ${controller} group of the script: ${lines.join(" | ")}`,
      );
    }
    await assertClean();
  });

  test("a shell stage over its memory limit fails: killed: memory limit 64M exceeded", async () => {
    const j = job(shellStage("hog", HOG, { limits: { memoryBytes: 64 * MiB } }));
    const err = await failure(run(j));
    assert.equal(err.code, "stage_failed");
    assert.equal(err.message, 'stage "hog" killed: memory limit 64M exceeded');
    assert.equal(err.details["memoryLimitBytes"], 64 * MiB);
    assert.ok(Number(err.details["oomKills"]) >= 1);
    const logPath = String(err.details["logPath"]);
    const log = await text(await store.getLog(logPath));
    assert.match(log, /stage failed \(stage_failed\): stage "hog" killed: memory limit 64M exceeded/);
    assert.doesNotMatch(log, /survived 150000000/);
    assert.match(log, /Killed/);
    await assertClean();
  });

  test("the same script without the limit succeeds (the limit, not the script, failed it)", async () => {
    const { log } = await run(job(shellStage("hog", HOG)));
    assert.match(log, /survived 150000000/);
    await assertClean();
  });

  test("a cpu limit throttles the stage's processes", async () => {
    // Two busy loops for one second each: about 2 CPU-seconds without a limit on two cores.
    const script = [
      "TIMEFORMAT='cpu %U %S'",
      "time { timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait || true; } || true",
    ].join("\n");
    const { log } = await run(job(shellStage("spin", script, { limits: { cpu: 0.2 } })));
    const m = /^cpu (\d+\.\d+) (\d+\.\d+)$/m.exec(log);
    assert.ok(m?.[1] !== undefined && m[2] !== undefined, `no timing in the log:\n${log}`);
    const used = Number(m[1]) + Number(m[2]);
    assert.ok(used < 0.6, `used ${used} CPU-seconds in one second of wall time under a 0.2 CPU limit`);
    await assertClean();
  });

  test("processes that left the stage's process group are killed with its cgroup", async () => {
    const script = [
      "mkdir -p out",
      "setsid sleep 300 </dev/null >/dev/null 2>&1 &",
      "echo $! > out/pid",
    ].join("\n");
    const s = shellStage("escape", script, {
      outputs: [output("pid", "out/pid", { kind: "file" })],
      limits: { memoryBytes: 128 * MiB },
    });
    const { outputs } = await run(job(s));
    const pid = Number((outputs["pid"] ?? "").trim());
    assert.ok(pid > 0);
    const alive = async (): Promise<boolean> => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \([^)]*\) Z/.test(stat);
      } catch {
        return false;
      }
    };
    await poll(async () => !(await alive()), {
      timeoutMs: 5000,
      what: `the escaped sleep (pid ${pid}) to be gone`,
    });
    await assertClean();
  });

  test("a chroot stage with limits runs confined, and its memory limit kills it", async () => {
    const ok = chrootStage("inside", "cat /proc/self/cgroup > /cgroup-seen", {
      outputs: [output("seen", "rootfs/cgroup-seen", { kind: "file" })],
      limits: { memoryBytes: 256 * MiB },
    });
    const { outputs } = await run(job(ok, { base }));
    assert.match(outputs["seen"] ?? "", /\/stagefarm\/run-[0-9a-f]+-inside-1-[0-9a-f]{8}$/m);
    await assertClean();

    const hog = chrootStage("chroot-hog", HOG, { outputs: [], limits: { memoryBytes: 64 * MiB } });
    const err = await failure(run(job(hog, { base })));
    assert.equal(err.message, 'stage "chroot-hog" killed: memory limit 64M exceeded');
    await assertClean();
  });

  test("cgroup v2 on a made-up cgroup file system: controllers enabled, limits written, the command joins", async () => {
    // This host's cgroup2 offers no memory or cpu controller, so the v2 path is exercised on
    // plain files laid out like cgroupfs (no kernel semantics: what is checked is what is written).
    const fake = join(dir, "fake-proc-v2");
    const mount = join(dir, "fake-v2");
    const own = join(mount, "agent.service");
    await mkdir(fake, { recursive: true });
    await mkdir(own, { recursive: true });
    await writeFile(join(fake, "mountinfo"), `30 20 0:26 / ${mount} rw - cgroup2 cgroup2 rw\n`);
    await writeFile(join(fake, "cgroup"), "0::/agent.service\n");
    await writeFile(join(own, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    await writeFile(join(own, "cgroup.subtree_control"), "\n");
    const manager = new CgroupManager({ procSelf: fake, killTimeoutMs: 500 });
    const parent = join(own, "stagefarm");
    await mkdir(parent);
    await writeFile(join(parent, "cgroup.subtree_control"), "\n");
    const cg = await manager.create(
      "run-x-build-1-abcd",
      { memoryBytes: 64 * MiB, cpu: 0.5 },
      'stage "build"',
    );
    const group = join(parent, "run-x-build-1-abcd");
    assert.equal(cg.version, 2);
    assert.deepEqual(cg.dirs, [group]);
    assert.equal(await readFile(join(own, "cgroup.subtree_control"), "utf8"), "+memory +cpu");
    assert.equal(await readFile(join(parent, "cgroup.subtree_control"), "utf8"), "+memory +cpu");
    assert.equal(await readFile(join(group, "memory.max"), "utf8"), String(64 * MiB));
    assert.equal(await readFile(join(group, "cpu.max"), "utf8"), "50000 100000");
    assert.equal(
      await exists(join(group, "memory.swap.max")),
      false,
      "optional files the kernel lacks are skipped",
    );

    const cmd = cg.wrap("/bin/sh", ["-c", "echo $$ > " + join(dir, "v2-pid")]);
    await execa(cmd.file, cmd.args);
    assert.equal(await cmd.joined(), true);
    const pid = (await readFile(join(dir, "v2-pid"), "utf8")).trim();
    assert.equal(
      (await readFile(join(group, "cgroup.procs"), "utf8")).trim(),
      pid,
      "the wrapper wrote its pid, then exec'd",
    );
    await writeFile(join(group, "memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
    assert.equal(await cg.oomKills(), 1);
    // rmdir of a real cgroup ignores its interface files; here they are plain files.
    await assert.rejects(cg.close(), /cannot remove the cgroup .*run-x-build-1-abcd \(ENOTEMPTY\)/);
  });

  test("a host that offers no memory controller fails the stage before it runs", async () => {
    const fake = join(dir, "fake-proc");
    const mount = join(dir, "fake-cgroup2");
    await mkdir(fake, { recursive: true });
    await mkdir(mount, { recursive: true });
    await writeFile(
      join(fake, "mountinfo"),
      `30 20 0:26 / ${mount} rw,relatime shared:5 - cgroup2 cgroup2 rw\n`,
    );
    await writeFile(join(fake, "cgroup"), "0::/\n");
    await writeFile(join(mount, "cgroup.controllers"), "hugetlb\n");
    const sentinel = join(dir, "ran");
    const limited = new StageExecutor({
      store,
      workRoot,
      logger: silentLogger(),
      cgroups: new CgroupManager({ procSelf: fake }),
    });
    const s = shellStage("limited", `touch ${sentinel}`, { limits: { memoryBytes: 64 * MiB } });
    const err = await failure(limited.execute(job(s), { signal: new AbortController().signal, jobs: 1 }));
    assert.equal(err.code, "invalid_argument");
    assert.equal(
      err.message,
      `stage "limited" asks for limits (memory 64M) but this agent cannot enforce them: no cgroup hierarchy offers the memory controller (cgroup2 at ${mount} offers hugetlb to the agent's group; no cgroup v1 memory hierarchy is mounted); the stage was not run`,
    );
    assert.equal(await exists(sentinel), false, "the script did not run");
    assert.deepEqual(await readdir(workRoot), []);
  });

  test("a read-only cgroup file system fails the stage before it runs", async () => {
    const fake = join(dir, "fake-proc-ro");
    const mount = join(dir, "fake-cgroup2-ro");
    await mkdir(fake, { recursive: true });
    await mkdir(mount, { recursive: true });
    await execa("mount", ["-t", "tmpfs", "-o", "size=1m", "sf-fake-cgroup", mount]);
    try {
      await writeFile(join(mount, "cgroup.controllers"), "cpu memory\n");
      await writeFile(join(mount, "cgroup.subtree_control"), "cpu memory\n");
      await execa("mount", ["-o", "remount,ro", mount]);
      await writeFile(join(fake, "mountinfo"), `30 20 0:26 / ${mount} ro,relatime - cgroup2 cgroup2 ro\n`);
      await writeFile(join(fake, "cgroup"), "0::/\n");
      const sentinel = join(dir, "ran-ro");
      const limited = new StageExecutor({
        store,
        workRoot,
        logger: silentLogger(),
        cgroups: new CgroupManager({ procSelf: fake }),
      });
      const s = shellStage("limited", `touch ${sentinel}`, { limits: { cpu: 1 } });
      const err = await failure(limited.execute(job(s), { signal: new AbortController().signal, jobs: 1 }));
      assert.equal(err.code, "invalid_argument");
      assert.match(
        err.message,
        new RegExp(
          `^stage "limited" asks for limits \\(cpu 1\\) but this agent cannot enforce them: cannot set up the cgroup ${mount}/stagefarm: .*read-only file system.*; the stage was not run$`,
        ),
      );
      assert.equal(await exists(sentinel), false, "the script did not run");
      assert.deepEqual(await readdir(workRoot), []);
    } finally {
      await execa("umount", [mount]);
    }
  });

  test("limits on a runner that starts processes outside the cgroup are refused", async () => {
    const s = shellStage("fetcher", "", {
      runner: "fetch",
      script: undefined,
      limits: { cpu: 1 },
    });
    const withFetch = new StageExecutor({ store, workRoot, logger: silentLogger() });
    const err = await failure(withFetch.execute(job(s), { signal: new AbortController().signal, jobs: 1 }));
    assert.equal(err.code, "invalid_pipeline");
    assert.match(
      err.message,
      /^stage "fetcher": limits apply to shell, chroot and emerge \(chroot mode\) stages/,
    );
    await assertClean();
  });
});
