/**
 * runInChroot against a real Debian chroot (debootstrap, made once per machine): what a run
 * sees (proc, sys, dev, dev/pts, dev/shm and resolv.conf mounted, umask 022, exactly the given
 * env, a login shell's profile), binds read-only and read-write, a devtmpfs /dev, and that the
 * root is left as the script left it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ChrootExecBench, ENV } from "../helpers/chroot-exec-bench.js";

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
  let bench: ChrootExecBench;
  before(async () => {
    bench = await ChrootExecBench.create();
  });
  after(async () => {
    await bench.close();
  });

  test("mounts proc, sys, dev, dev/pts, dev/shm and resolv.conf; umask 022; exactly the given env", async () => {
    const { outcome, output } = await bench.run(`
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
    const profile = join(bench.shared, "etc/profile.d/sf-test.sh");
    await writeFile(profile, "export SF_PROFILE=sourced\numask 077\n");
    try {
      const login = await bench.run('echo "PROFILE ${SF_PROFILE:-no}"; echo "UMASK $(umask)"', {
        login: true,
      });
      assert.equal(login.outcome.exitCode, 0, login.output);
      assert.match(login.output, /^PROFILE sourced$/m);
      assert.match(login.output, /^UMASK 0022$/m, "the script runs with umask 022 whatever the profile set");
      const plain = await bench.run('echo "PROFILE ${SF_PROFILE:-no}"', { login: false });
      assert.match(plain.output, /^PROFILE no$/m);
    } finally {
      await rm(profile, { force: true });
    }
  });

  test("the root is left as the script left it: created mount points and the script are gone", async () => {
    const root = await bench.freshRoot();
    // Make the runner create its mount points (and a missing parent for a bind target).
    await rm(join(root, "proc"), { recursive: true });
    await rm(join(root, "sys"), { recursive: true });
    await rm(join(root, "etc/resolv.conf"), { force: true });
    const src = join(bench.dir, "bind-src");
    await mkdir(src, { recursive: true });
    const before = await listing(root);
    const { outcome, output } = await bench.run(
      "echo made > /opt/made-by-script; cat /proc/self/fd/9 >/dev/null",
      {
        root,
        binds: [{ source: src, target: "/srv/new/dir", readonly: true }],
        resolvConf: { content: "nameserver 192.0.2.1\n" },
      },
    );
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
    const ro = join(bench.dir, "distfiles");
    const rw = join(bench.dir, "out");
    await mkdir(ro, { recursive: true });
    await mkdir(rw, { recursive: true });
    await writeFile(join(ro, "src.tar"), "tarball\n");
    const resolvBefore = await readFile(join(bench.shared, "etc/resolv.conf"), "utf8");
    const { outcome, output } = await bench.run(
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
    assert.equal(await readFile(join(bench.shared, "etc/resolv.conf"), "utf8"), resolvBefore);
    assert.deepEqual(await readdir(join(bench.shared, "mnt")), []);
  });

  test("dev: devtmpfs mounts the kernel's device file system", async () => {
    const { outcome, output } = await bench.run(
      'grep -E "^devtmpfs /dev " /proc/mounts && test -c /dev/null && test -c /dev/pts/ptmx && echo DEV ok',
      { dev: "devtmpfs" },
    );
    assert.equal(outcome.exitCode, 0, output);
    assert.match(output, /^DEV ok$/m);
  });
});
