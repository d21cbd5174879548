/**
 * runInChroot against a real Debian chroot (debootstrap, made once per machine): a failing
 * script is an outcome, and nothing (mount, process, mount namespace, run directory) outlives a
 * run that failed, timed out, was cancelled, or whose caller was SIGKILLed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sweepStaleRunDirs } from "../../agent/runners/chroot/testing.js";
import { ChrootExecBench } from "../helpers/chroot-exec-bench.js";
import { hostMountsUnder, marker, processesInMountNs, processesWith } from "../helpers/leak-probes.js";
import { poll } from "../helpers/poll.js";

void describe("runInChroot", { timeout: 600_000 }, () => {
  let bench: ChrootExecBench;
  before(async () => {
    bench = await ChrootExecBench.create();
  });
  after(async () => {
    await bench.close();
  });

  test("a failing script is an outcome, not a throw; no mount is left", async () => {
    const { outcome, output } = await bench.run("echo before; exit 7");
    assert.equal(outcome.exitCode, 7);
    assert.match(output, /before/);
    assert.deepEqual(await hostMountsUnder(bench.shared), []);
  });

  test("set -e: a failing command stops the script", async () => {
    const { outcome, output } = await bench.run("echo one; false; echo two");
    assert.equal(outcome.exitCode, 1);
    assert.doesNotMatch(output, /two/);
  });

  test("a timeout kills every process of the run", async () => {
    const m = marker();
    const { outcome } = await bench.run(`sleep ${m} & setsid sleep ${m} & sleep ${m}`, { timeoutMs: 500 });
    assert.equal(outcome.timedOut, true);
    assert.deepEqual(await processesWith(m), []);
    assert.deepEqual(await hostMountsUnder(bench.shared), []);
  });

  test("cancelling kills every process of the run and leaves no mount", async () => {
    const m = marker();
    const ac = new AbortController();
    const running = bench.run(`sleep ${m} & echo started; sleep ${m}`, { signal: ac.signal });
    let ns: string;
    try {
      await poll(async () => (await processesWith(m)).length === 2, {
        timeoutMs: 10_000,
        what: "the sleeps",
      });
      const [pid] = await processesWith(m);
      ns = await readlink(`/proc/${pid ?? 0}/ns/mnt`);
      assert.deepEqual(await hostMountsUnder(bench.shared), [], "the run's mounts are private to it");
    } finally {
      ac.abort();
    }
    const { outcome } = await running;
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(await processesWith(m), []);
    assert.deepEqual(await processesInMountNs(ns), []);
    assert.deepEqual(await hostMountsUnder(bench.shared), []);
  });

  test("a SIGKILLed caller takes the run along: no process and no mount namespace stays", async () => {
    const m = marker();
    const execUrl = new URL("../../agent/runners/chroot/exec.js", import.meta.url).href;
    const code = `
      import { runInChroot } from ${JSON.stringify(execUrl)};
      await runInChroot({
        root: ${JSON.stringify(bench.shared)}, script: "exec sleep ${m}", env: { PATH: "/usr/bin:/bin" },
        login: false, dev: "minimal", resolvConf: "host", binds: [], shell: "/bin/bash",
        signal: new AbortController().signal, onOutput: () => {},
      });`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await poll(async () => (await processesWith(m)).length === 1, {
        timeoutMs: 10_000,
        what: "the sleep in the chroot",
      });
      const [pid] = await processesWith(m);
      const ns = await readlink(`/proc/${pid ?? 0}/ns/mnt`);
      assert.notEqual(ns, await readlink("/proc/self/ns/mnt"), "the run has its own mount namespace");
      assert.deepEqual(await hostMountsUnder(bench.shared), [], "the run's mounts are private to it");
      child.kill("SIGKILL");
      await exited;
      await poll(async () => (await processesWith(m)).length === 0, {
        timeoutMs: 5000,
        what: "the sleep to die",
      });
      await poll(async () => (await processesInMountNs(ns)).length === 0, {
        timeoutMs: 5000,
        what: "the namespace to be gone",
      });
      assert.deepEqual(await hostMountsUnder(bench.shared), []);
      // Its private run directory is swept by the next run (here: the sweep itself).
      await sweepStaleRunDirs();
      const owners = await Promise.all(
        (await readdir(tmpdir()))
          .filter((d) => d.startsWith("stagefarm-chroot-"))
          .map(async (d) => await readFile(join(tmpdir(), d, "owner"), "utf8").catch(() => "")),
      );
      assert.ok(
        !owners.some((o) => o.startsWith(`${child.pid ?? 0} `)),
        "the killed run's directory is swept",
      );
    } finally {
      child.kill("SIGKILL");
      for (const pid of await processesWith(m)) process.kill(pid, "SIGKILL");
    }
  });
});
