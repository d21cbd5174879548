/**
 * runInChroot against a real Debian chroot (debootstrap, made once per machine): paths are
 * resolved inside the root (symlinks in it never lead to the host, a mount point leading to the
 * root itself is refused), and a missing root, a file as root or a missing shell are clear errors.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { ChrootExecBench } from "../helpers/chroot-exec-bench.js";

void describe("runInChroot", { timeout: 600_000 }, () => {
  let bench: ChrootExecBench;
  before(async () => {
    bench = await ChrootExecBench.create();
  });
  after(async () => {
    await bench.close();
  });

  test("symlinks in the root are followed inside it, never to the host", async () => {
    const root = await bench.freshRoot();
    const hostDir = await mkdtemp(join(tmpdir(), "sf-chroot-host-"));
    const hostFileDir = await mkdtemp(join(tmpdir(), "sf-chroot-host-"));
    const hostFile = join(hostFileDir, "resolv");
    await writeFile(hostFile, "host file\n");
    try {
      await rm(join(root, "dev"), { recursive: true });
      await symlink(hostDir, join(root, "dev"));
      await rm(join(root, "etc/resolv.conf"), { force: true });
      await symlink(hostFile, join(root, "etc/resolv.conf"));
      const { outcome, output } = await bench.run("test -c /dev/null && echo DEV ok; cat /etc/resolv.conf", {
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
    const root = await bench.freshRoot();
    await rm(join(root, "proc"), { recursive: true });
    await symlink("/", join(root, "proc"));
    await assert.rejects(bench.run("true", { root }), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "invalid_argument");
      assert.match(err.message, /\/proc .* resolves to the root itself/);
      return true;
    });
    await rm(root, { recursive: true });
  });

  test("a missing root, a file as root and a missing shell are clear errors", async () => {
    const file = join(bench.dir, "not-a-dir");
    await writeFile(file, "");
    for (const [over, re] of [
      [{ root: join(bench.dir, "absent") }, /chroot root .*absent does not exist/],
      [{ root: file }, /chroot root .*not-a-dir is not a directory/],
      [{ shell: "/bin/zsh" }, /has no shell \/bin\/zsh/],
    ] as const) {
      await assert.rejects(bench.run("true", over), (err: unknown) => {
        assert.ok(err instanceof StagefarmError);
        assert.equal(err.code, "invalid_argument");
        assert.match(err.message, re);
        return true;
      });
    }
  });
});
