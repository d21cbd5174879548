/**
 * runInChroot against a real Debian chroot (debootstrap, made once per machine): mounts and
 * their cleanup, paths resolved inside the root, binds, and that nothing (mount, process, file)
 * outlives a run that failed, timed out, was cancelled, or whose caller was SIGKILLed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInChroot, type ChrootExecOptions } from "../../agent/runners/chroot-exec.js";
import { sweepStaleRunDirs } from "../../agent/runners/chroot-run-dir.js";
import type { ProcessOutcome } from "../../agent/process-group.js";
import { StagefarmError } from "../../shared/errors.js";
import { unpackFile } from "../../shared/pack/index.js";
import { debootstrapCache } from "../helpers/debootstrap.js";

const ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", TERM: "dumb", FOO: `it's "quoted" $x` };

/** A `sleep` duration no other process on the machine has on its command line. */
function marker(): string {
  return `299.${randomInt(100_000_000, 999_999_999)}`;
}

async function processesWith(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (cmdline.split("\0").includes(text)) found.push(Number(name));
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH") throw StagefarmError.from(err);
    }
  }
  return found;
}

async function waitFor(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids of the live processes in mount namespace `mountNs` (e.g. "mnt:[4026532451]"). */
async function processesInMountNs(mountNs: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readlink(`/proc/${name}/ns/mnt`)) === mountNs) found.push(Number(name));
    } catch (err: unknown) {
      // Gone meanwhile, a zombie, or a process we may not inspect (no descendant of ours).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH" && code !== "EACCES" && code !== "EPERM")
        throw StagefarmError.from(err);
    }
  }
  return found;
}

/** Mount points of this (the host's) mount namespace at or below `dir`. */
async function hostMountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

/** Every entry below `root` as "path type", for before/after comparisons. */
async function listing(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel === "" ? name : `${rel}/${name}`;
    const st = await lstat(join(root, p));
    const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? `l ${await readlink(join(root, p))}` : "f";
    out.push(`${p} ${type}`);
    if (st.isDirectory()) out.push(...(await listing(root, p)));
  }
  return out;
}

void describe("runInChroot", { timeout: 600_000 }, () => {
  let dir: string;
  let archive: string;
  let shared: string;
  let n = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-chroot-exec-"));
    archive = (await debootstrapCache()).archive;
    shared = await freshRoot();
  });
  after(async () => {
    assert.deepEqual(await hostMountsUnder(dir), []);
    await rm(dir, { recursive: true, force: true });
  });

  async function freshRoot(): Promise<string> {
    const root = join(dir, `root${++n}`);
    await unpackFile(archive, root);
    return root;
  }

  async function run(
    script: string,
    over: Partial<ChrootExecOptions> = {},
  ): Promise<{ outcome: ProcessOutcome; output: string }> {
    let output = "";
    const outcome = await runInChroot({
      root: shared,
      script,
      env: ENV,
      login: false,
      dev: "minimal",
      resolvConf: "host",
      binds: [],
      shell: "/bin/bash",
      signal: new AbortController().signal,
      killGraceMs: 200,
      onOutput: (c) => (output += Buffer.from(c).toString()),
      ...over,
    });
    return { outcome, output };
  }

  test("mounts proc, sys, dev, dev/pts, dev/shm and resolv.conf; umask 022; exactly the given env", async () => {
    const { outcome, output } = await run(`
      while read -r src mp type rest; do echo "MOUNT $mp $type"; done < /proc/mounts
      test -c /dev/null && echo discard > /dev/null && echo "NULL ok"
      echo "RANDOM $(head -c 16 /dev/urandom | wc -c)"
      test -c /dev/pts/ptmx && test -L /dev/ptmx && echo "PTS ok"
      echo shared > /dev/shm/probe && echo "SHM $(cat /dev/shm/probe) $(stat -c %a /dev/shm)"
      test -d /sys/kernel && echo "SYS ok"
      echo "PID $$ $(readlink /proc/self/fd/1 >/dev/null && echo fd-ok)"
      echo "UMASK $(umask)"
      echo "CWD $PWD"
      echo "RESOLV $(md5sum < /etc/resolv.conf)"
      env -0 | tr '\\0' '\\n' | sed 's/^/ENV /'
    `);
    assert.equal(outcome.exitCode, 0, output);
    const mounts = output.split("\n").filter((l) => l.startsWith("MOUNT "));
    for (const m of ["/proc proc", "/sys sysfs", "/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs"])
      assert.ok(mounts.includes(`MOUNT ${m}`), `${m} in ${mounts.join(", ")}`);
    assert.ok(
      mounts.some((m) => m.startsWith("MOUNT /etc/resolv.conf ")),
      mounts.join(", "),
    );
    for (const want of ["NULL ok", "RANDOM 16", "PTS ok", "SHM shared 1777", "SYS ok", "PID 1 fd-ok"])
      assert.ok(output.includes(`${want}\n`), `${want} in:\n${output}`);
    assert.match(output, /^UMASK 0022$/m);
    assert.match(output, /^CWD \/$/m);
    const { execFileSync } = await import("node:child_process");
    const hostResolv = execFileSync("md5sum", { input: await readFile("/etc/resolv.conf") }).toString();
    assert.ok(output.includes(`RESOLV ${hostResolv}`), output);
    const env = output
      .split("\n")
      .filter((l) => l.startsWith("ENV "))
      .map((l) => l.slice(4));
    // bash itself adds PWD, SHLVL and _.
    const expected = Object.entries(ENV).map(([k, v]) => `${k}=${v}`);
    assert.deepEqual(env.filter((l) => !/^(PWD|SHLVL|_)=/.test(l)).sort(), expected.sort());
  });

  test("a login shell sources the root's profile (umask stays 022); without login it is not", async () => {
    const profile = join(shared, "etc/profile.d/sf-test.sh");
    await writeFile(profile, "export SF_PROFILE=sourced\numask 077\n");
    try {
      const login = await run('echo "PROFILE ${SF_PROFILE:-no}"; echo "UMASK $(umask)"', { login: true });
      assert.equal(login.outcome.exitCode, 0, login.output);
      assert.match(login.output, /^PROFILE sourced$/m);
      assert.match(login.output, /^UMASK 0022$/m, "the script runs with umask 022 whatever the profile set");
      const plain = await run('echo "PROFILE ${SF_PROFILE:-no}"', { login: false });
      assert.match(plain.output, /^PROFILE no$/m);
    } finally {
      await rm(profile, { force: true });
    }
  });

  test("the root is left as the script left it: created mount points and the script are gone", async () => {
    const root = await freshRoot();
    // Make the runner create its mount points (and a missing parent for a bind target).
    await rm(join(root, "proc"), { recursive: true });
    await rm(join(root, "sys"), { recursive: true });
    await rm(join(root, "etc/resolv.conf"), { force: true });
    const src = join(dir, "bind-src");
    await mkdir(src, { recursive: true });
    const before = await listing(root);
    const { outcome, output } = await run("echo made > /opt/made-by-script; cat /proc/self/fd/9 >/dev/null", {
      root,
      binds: [{ source: src, target: "/srv/new/dir", readonly: true }],
      resolvConf: { content: "nameserver 192.0.2.1\n" },
    });
    assert.equal(outcome.exitCode, 0, output);
    const after = await listing(root);
    assert.deepEqual(
      after.filter((l) => !before.includes(l)),
      ["opt/made-by-script f"],
    );
    assert.deepEqual(
      before.filter((l) => !after.includes(l)),
      [],
    );
    await rm(root, { recursive: true });
  });

  test("binds: read-only refuses writes, read-write writes through; resolv.conf content for the run only", async () => {
    const ro = join(dir, "distfiles");
    const rw = join(dir, "out");
    await mkdir(ro, { recursive: true });
    await mkdir(rw, { recursive: true });
    await writeFile(join(ro, "src.tar"), "tarball\n");
    const resolvBefore = await readFile(join(shared, "etc/resolv.conf"), "utf8");
    const { outcome, output } = await run(
      `
      echo "RO $(cat /var/cache/distfiles/src.tar)"
      if touch /var/cache/distfiles/new 2>/dev/null; then echo "RO writable"; else echo "RO refused"; fi
      echo written > /mnt/out/result
      echo "RESOLV $(cat /etc/resolv.conf)"
      if echo x >> /etc/resolv.conf 2>/dev/null; then echo "RESOLV writable"; else echo "RESOLV refused"; fi
    `,
      {
        binds: [
          { source: ro, target: "/var/cache/distfiles", readonly: true },
          { source: rw, target: "/mnt/out", readonly: false },
        ],
        resolvConf: { content: "nameserver 192.0.2.53\n" },
      },
    );
    assert.equal(outcome.exitCode, 0, output);
    assert.match(output, /^RO tarball$/m);
    assert.match(output, /^RO refused$/m);
    assert.match(output, /^RESOLV nameserver 192\.0\.2\.53$/m);
    assert.match(output, /^RESOLV refused$/m);
    assert.equal(await readFile(join(rw, "result"), "utf8"), "written\n");
    assert.deepEqual(await readdir(ro), ["src.tar"]);
    assert.equal(await readFile(join(shared, "etc/resolv.conf"), "utf8"), resolvBefore);
    assert.deepEqual(await readdir(join(shared, "mnt")), []);
  });

  test("dev: devtmpfs mounts the kernel's device file system", async () => {
    const { outcome, output } = await run(
      'grep -E "^devtmpfs /dev " /proc/mounts && test -c /dev/null && test -c /dev/pts/ptmx && echo DEV ok',
      { dev: "devtmpfs" },
    );
    assert.equal(outcome.exitCode, 0, output);
    assert.match(output, /^DEV ok$/m);
  });

  test("symlinks in the root are followed inside it, never to the host", async () => {
    const root = await freshRoot();
    const hostDir = await mkdtemp(join(tmpdir(), "sf-chroot-host-"));
    const hostFileDir = await mkdtemp(join(tmpdir(), "sf-chroot-host-"));
    const hostFile = join(hostFileDir, "resolv");
    await writeFile(hostFile, "host file\n");
    try {
      await rm(join(root, "dev"), { recursive: true });
      await symlink(hostDir, join(root, "dev"));
      await rm(join(root, "etc/resolv.conf"), { force: true });
      await symlink(hostFile, join(root, "etc/resolv.conf"));
      const { outcome, output } = await run("test -c /dev/null && echo DEV ok; cat /etc/resolv.conf", {
        root,
        resolvConf: { content: "nameserver 192.0.2.9\n" },
      });
      assert.equal(outcome.exitCode, 0, output);
      assert.match(output, /^DEV ok$/m);
      assert.match(output, /^nameserver 192\.0\.2\.9$/m);
      // The host's directory and file are untouched; the mount points made inside the root are gone.
      assert.deepEqual(await readdir(hostDir), []);
      assert.deepEqual(await readdir(hostFileDir), ["resolv"]);
      assert.equal(await readFile(hostFile, "utf8"), "host file\n");
      await assert.rejects(lstat(join(root, hostDir)), { code: "ENOENT" });
      await assert.rejects(lstat(join(root, hostFileDir)), { code: "ENOENT" });
    } finally {
      await rm(hostDir, { recursive: true, force: true });
      await rm(hostFileDir, { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    }
  });

  test("a root whose mount point leads to the root itself is refused", async () => {
    const root = await freshRoot();
    await rm(join(root, "proc"), { recursive: true });
    await symlink("/", join(root, "proc"));
    await assert.rejects(run("true", { root }), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "invalid_argument");
      assert.match(err.message, /\/proc .* resolves to the root itself/);
      return true;
    });
    await rm(root, { recursive: true });
  });

  test("a missing root, a file as root and a missing shell are clear errors", async () => {
    const file = join(dir, "not-a-dir");
    await writeFile(file, "");
    for (const [over, re] of [
      [{ root: join(dir, "absent") }, /chroot root .*absent does not exist/],
      [{ root: file }, /chroot root .*not-a-dir is not a directory/],
      [{ shell: "/bin/zsh" }, /has no shell \/bin\/zsh/],
    ] as const) {
      await assert.rejects(run("true", over), (err: unknown) => {
        assert.ok(err instanceof StagefarmError);
        assert.equal(err.code, "invalid_argument");
        assert.match(err.message, re);
        return true;
      });
    }
  });

  test("a failing script is an outcome, not a throw; no mount is left", async () => {
    const { outcome, output } = await run("echo before; exit 7");
    assert.equal(outcome.exitCode, 7);
    assert.match(output, /before/);
    assert.deepEqual(await hostMountsUnder(shared), []);
  });

  test("set -e: a failing command stops the script", async () => {
    const { outcome, output } = await run("echo one; false; echo two");
    assert.equal(outcome.exitCode, 1);
    assert.doesNotMatch(output, /two/);
  });

  test("a timeout kills every process of the run", async () => {
    const m = marker();
    const { outcome } = await run(`sleep ${m} & setsid sleep ${m} & sleep ${m}`, { timeoutMs: 500 });
    assert.equal(outcome.timedOut, true);
    assert.deepEqual(await processesWith(m), []);
    assert.deepEqual(await hostMountsUnder(shared), []);
  });

  test("cancelling kills every process of the run and leaves no mount", async () => {
    const m = marker();
    const ac = new AbortController();
    const running = run(`sleep ${m} & echo started; sleep ${m}`, { signal: ac.signal });
    let ns: string;
    try {
      await waitFor("the sleeps", async () => (await processesWith(m)).length === 2, 10_000);
      const [pid] = await processesWith(m);
      ns = await readlink(`/proc/${pid ?? 0}/ns/mnt`);
      assert.deepEqual(await hostMountsUnder(shared), [], "the run's mounts are private to it");
    } finally {
      ac.abort();
    }
    const { outcome } = await running;
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(await processesWith(m), []);
    assert.deepEqual(await processesInMountNs(ns), []);
    assert.deepEqual(await hostMountsUnder(shared), []);
  });

  test("a SIGKILLed caller takes the run along: no process and no mount namespace stays", async () => {
    const m = marker();
    const execUrl = new URL("../../agent/runners/chroot-exec.js", import.meta.url).href;
    const code = `
      import { runInChroot } from ${JSON.stringify(execUrl)};
      await runInChroot({
        root: ${JSON.stringify(shared)}, script: "exec sleep ${m}", env: { PATH: "/usr/bin:/bin" },
        login: false, dev: "minimal", resolvConf: "host", binds: [], shell: "/bin/bash",
        signal: new AbortController().signal, onOutput: () => {},
      });`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await waitFor("the sleep in the chroot", async () => (await processesWith(m)).length === 1, 10_000);
      const [pid] = await processesWith(m);
      const ns = await readlink(`/proc/${pid ?? 0}/ns/mnt`);
      assert.notEqual(ns, await readlink("/proc/self/ns/mnt"), "the run has its own mount namespace");
      assert.deepEqual(await hostMountsUnder(shared), [], "the run's mounts are private to it");
      child.kill("SIGKILL");
      await exited;
      await waitFor("the sleep to die", async () => (await processesWith(m)).length === 0, 5000);
      await waitFor(
        "the namespace to be gone",
        async () => (await processesInMountNs(ns)).length === 0,
        5000,
      );
      assert.deepEqual(await hostMountsUnder(shared), []);
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
