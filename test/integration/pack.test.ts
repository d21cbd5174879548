/**
 * Deterministic packing with real GNU tar and zstd: equal trees give equal bytes (also after
 * atime-only changes, and with clamped mtimes), content changes show, excludes and
 * --one-file-system leave things out, and a pack→unpack round trip keeps content, modes,
 * owners, links and xattrs. Memory stays bounded on a tree of ~200 MiB.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import {
  chmod,
  chown,
  link,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { packTree, packTreeToFile, unpackBlob } from "../../shared/pack/index.js";
import { FsArtifactStore } from "../../shared/store/fs-store.js";
import { listTarZst, readXattrs, snapshotTree, writeFileWithXattrs } from "../helpers/tar-fixtures.js";

const MiB = 1 << 20;

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

async function hasProgram(name: string): Promise<boolean> {
  const r = await execa("sh", ["-c", `command -v ${name}`], { reject: false });
  return r.exitCode === 0;
}

/** A small rootfs-like tree with every kind of thing a stage tarball holds. */
async function makeTree(dir: string, withCapability: boolean): Promise<void> {
  for (const d of ["etc", "bin", "usr/lib", "home/user", "var/tmp/sub", "var/cache", "opt/var/tmp", "run"])
    await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, "etc/conf"), "key = value\n");
  await writeFile(join(dir, "bin/tool"), "#!/bin/sh\necho tool\n");
  await chmod(join(dir, "bin/tool"), 0o755);
  await link(join(dir, "bin/tool"), join(dir, "bin/tool-hardlink"));
  await writeFile(join(dir, "bin/suid"), "suid\n");
  await chmod(join(dir, "bin/suid"), 0o4755);
  await mkdir(join(dir, "tmp"), { mode: 0o1777 });
  await chmod(join(dir, "tmp"), 0o1777);
  await mkdir(join(dir, "empty"));
  await chmod(join(dir, "empty"), 0o700);
  await writeFile(join(dir, "usr/lib/libfoo.so.1"), randomBytes(4096));
  await symlink("libfoo.so.1", join(dir, "usr/lib/libfoo.so"));
  await symlink("usr/lib", join(dir, "lib"));
  await symlink("/usr/lib/libfoo.so.1", join(dir, "abs-link"));
  await writeFile(join(dir, "home/user/file"), "mine\n");
  await chown(join(dir, "home/user/file"), 1234, 5678);
  await chown(join(dir, "home/user"), 1234, 5678);
  await writeFile(join(dir, "var/tmp/a"), "tmp\n");
  await writeFile(join(dir, "var/tmp/sub/b"), "tmp\n");
  await writeFile(join(dir, "var/cache/c"), "cache\n");
  await writeFile(join(dir, "opt/var/tmp/keep"), "not at the root\n");
  await writeFile(join(dir, "run/pid"), "1\n");
  await writeFile(join(dir, "données.txt"), "unicode name\n");
  const deep = join(dir, "a".repeat(60), "b".repeat(60));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, "long-name-file"), "long path\n");
  await writeFileWithXattrs(join(dir, "bin"), "xattr-file", "has xattrs\n", {
    "user.foo": "bar",
    "user.empty": "",
  });
  if (withCapability) {
    await writeFile(join(dir, "bin/ping"), "ping\n");
    await execa("setcap", ["cap_net_raw+ep", join(dir, "bin/ping")]);
  }
}

/** Sets atime/mtime of every entry below `dir` (symlinks included, not followed). */
async function setAllTimes(dir: string, time: (rel: string) => { atime: Date; mtime: Date }): Promise<void> {
  const tree = await snapshotTree(dir);
  // Deepest first, so a directory's mtime is set after its children's.
  for (const rel of [...tree.keys()].sort((a, b) => b.length - a.length)) {
    const t = time(rel);
    await lutimes(rel === "" ? dir : join(dir, rel), t.atime, t.mtime);
  }
}

describe("packTree (GNU tar + zstd, deterministic)", () => {
  let root: string;
  let store: FsArtifactStore;
  let withCapability = false;
  let tree: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sf-pack-"));
    store = await FsArtifactStore.open(join(root, "store"));
    withCapability = (await hasProgram("setcap")) && (await hasProgram("getcap"));
    tree = join(root, "tree");
    await mkdir(tree);
    await makeTree(tree, withCapability);
  });

  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  test("the same tree packs to the same bytes, into the store and into a file", async () => {
    const a = await packTree(tree, store);
    const b = await packTree(tree, store);
    assert.deepEqual(b, a);
    const file = join(root, "out.tar.zst");
    const c = await packTreeToFile(tree, file);
    assert.deepEqual(c, a);
    const stored = await store.getBlob(a.digest);
    const chunks: Buffer[] = [];
    for await (const chunk of stored as AsyncIterable<Buffer>) chunks.push(chunk);
    assert.ok(Buffer.concat(chunks).equals(await readFile(file)));
    assert.deepEqual(
      await readdir(root),
      ["out.tar.zst", "store", "tree"],
      "no temp file is left next to the output",
    );
  });

  test("changing only atimes changes nothing; changing content changes the digest", async () => {
    // Node sets times with millisecond precision at best: start from whole-second mtimes so
    // that they can be set again exactly.
    const mtimeOf = (ms: number | undefined): Date => new Date(Math.floor((ms ?? 0) / 1000) * 1000);
    const snap = await snapshotTree(tree);
    await setAllTimes(tree, (rel) => ({ atime: new Date(), mtime: mtimeOf(snap.get(rel)?.mtimeMs) }));
    const before = await packTree(tree, store);
    await setAllTimes(tree, (rel) => ({
      atime: new Date(Date.UTC(2001, 0, 1)),
      mtime: mtimeOf(snap.get(rel)?.mtimeMs),
    }));
    assert.equal((await packTree(tree, store)).digest, before.digest);

    const file = join(tree, "etc/conf");
    const mtime = mtimeOf(snap.get("etc/conf")?.mtimeMs);
    await writeFile(file, "key = VALUE\n"); // same size
    await utimes(file, mtime, mtime);
    try {
      assert.notEqual((await packTree(tree, store)).digest, before.digest);
    } finally {
      await writeFile(file, "key = value\n");
      await utimes(file, mtime, mtime);
    }
    assert.equal((await packTree(tree, store)).digest, before.digest);
  });

  test("owners are numeric, modes and link types are recorded, excludes leave paths out", async () => {
    const file = join(root, "excl.tar.zst");
    await packTreeToFile(tree, file, { exclude: ["var/tmp/*", "./var/cache", "/run/*"] });
    const entries = await listTarZst(file);
    const byName = new Map(entries.map((e) => [e.name, e]));
    const names = [...byName.keys()];
    assert.deepEqual(
      names.filter((n) => n.startsWith("./var/") || n.startsWith("./run/") || n.startsWith("./opt/")),
      ["./opt/", "./opt/var/", "./opt/var/tmp/", "./opt/var/tmp/keep", "./run/", "./var/", "./var/tmp/"],
    );
    const top = names.filter((n) => /^\.\/[^/]+\/?$/.test(n));
    assert.deepEqual([...top].sort(), top, "members are sorted by name");
    const owned = byName.get("./home/user/file");
    assert.equal(owned?.uid, 1234);
    assert.equal(owned?.gid, 5678);
    assert.equal(byName.get("./bin/suid")?.mode, 0o4755);
    assert.equal(byName.get("./tmp/")?.mode, 0o1777);
    assert.equal(byName.get("./bin/tool-hardlink")?.type, "link");
    assert.equal(byName.get("./bin/tool-hardlink")?.linkname, "./bin/tool");
    assert.equal(byName.get("./lib")?.linkname, "usr/lib");
    for (const e of entries) {
      assert.equal(e.pax.atime, undefined, `${e.name} has no atime record`);
      assert.equal(e.pax.ctime, undefined, `${e.name} has no ctime record`);
    }
    assert.equal(byName.get("./bin/xattr-file")?.pax["SCHILY.xattr.user.foo"], "bar");
  });

  test("a pack→unpack round trip keeps content, modes, owners, symlinks, hardlinks and xattrs", async () => {
    const info = await packTree(tree, store);
    const dest = join(root, "unpacked");
    await unpackBlob(store, info.digest, dest);
    try {
      const want = await snapshotTree(tree);
      const got = await snapshotTree(dest);
      assert.deepEqual(got, want);
      assert.equal(got.get("bin/tool-hardlink")?.hardlinkOf, "bin/tool");
      assert.equal(got.get("home/user/file")?.uid, 1234);
      assert.deepEqual(await readXattrs(join(dest, "bin"), "xattr-file"), {
        "user.foo": "bar",
        "user.empty": "",
      });
      if (withCapability) {
        const { stdout } = await execa("getcap", [join(dest, "bin/ping")]);
        assert.match(stdout, /cap_net_raw[=+]ep/);
      }
      assert.deepEqual(
        (await readdir(root)).filter((n) => n.includes("sf-archive")),
        [],
        "the temp archive is removed",
      );
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  });

  test("clampMtimeSec makes trees that differ only in mtimes pack identically", async () => {
    const a = join(root, "clamp-a");
    const b = join(root, "clamp-b");
    for (const d of [a, b]) {
      await mkdir(d);
      await mkdir(join(d, "sub"));
      await writeFile(join(d, "sub/f"), "same\n");
      await symlink("sub/f", join(d, "l"));
    }
    const now = Date.now();
    await setAllTimes(a, () => ({ atime: new Date(now), mtime: new Date(now) }));
    await setAllTimes(b, () => ({ atime: new Date(now), mtime: new Date(now + 86_400_000) }));
    try {
      assert.notEqual((await packTree(a, store)).digest, (await packTree(b, store)).digest);
      const clampMtimeSec = Math.floor(now / 1000) - 3600;
      const ca = await packTree(a, store, { clampMtimeSec });
      const cb = await packTree(b, store, { clampMtimeSec });
      assert.equal(ca.digest, cb.digest);
    } finally {
      await rm(a, { recursive: true, force: true });
      await rm(b, { recursive: true, force: true });
    }
  });

  test("file systems mounted inside the tree are not packed (--one-file-system)", async (t) => {
    const dir = join(root, "mounted");
    await mkdir(join(dir, "proc"), { recursive: true });
    await writeFile(join(dir, "file"), "x\n");
    const mounted = await execa("mount", ["-t", "tmpfs", "sf-test", join(dir, "proc")], { reject: false });
    if (mounted.exitCode !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr}`);
      await rm(dir, { recursive: true, force: true });
      return;
    }
    try {
      await writeFile(join(dir, "proc/inside-mount"), "x\n");
      const file = join(root, "mounted.tar.zst");
      await packTreeToFile(dir, file);
      assert.deepEqual(
        (await listTarZst(file)).map((e) => e.name),
        ["./", "./file", "./proc/"],
      );
    } finally {
      await execa("umount", [join(dir, "proc")]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("bad input is refused with a message naming it", async () => {
    await assert.rejects(packTree(join(root, "nope"), store), isError("not_found", join(root, "nope")));
    await assert.rejects(
      packTree(join(tree, "etc/conf"), store),
      isError("invalid_argument", "not a directory"),
    );
    await assert.rejects(
      packTree(tree, store, { exclude: ["./"] }),
      isError("invalid_argument", "whole tree"),
    );
    await assert.rejects(
      packTree(tree, store, { clampMtimeSec: -1 }),
      isError("invalid_argument", "clampMtimeSec"),
    );
  });

  test("a tree that changes while it is packed is an error, and nothing is stored", async () => {
    const dir = join(root, "changing");
    await mkdir(dir);
    const file = join(dir, "growing.log");
    await writeFile(file, randomBytes(64 * MiB));
    const blobsBefore = await countBlobs(store);
    const writer = execa("sh", ["-c", `while :; do echo more >> '${file}'; done`], { reject: false });
    try {
      await assert.rejects(packTree(dir, store), isError("unavailable", dir, "file changed as we read it"));
    } finally {
      writer.kill("SIGKILL");
      await writer;
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(await countBlobs(store), blobsBefore);
  });

  test("abort stops tar and zstd, stores nothing and reports cancelled", async () => {
    const dir = join(root, "abort");
    await mkdir(dir);
    for (let i = 0; i < 16; i++) await writeRandomFile(join(dir, `r${i}`), 16 * MiB);
    const blobsBefore = await countBlobs(store);
    const ac = new AbortController();
    const packing = packTree(dir, store, { signal: ac.signal });
    const pgid = await waitForTar(dir);
    ac.abort();
    await assert.rejects(packing, isError("cancelled", dir));
    await waitFor("tar's process group to be gone", async () => (await processesInGroup(pgid)).length === 0);
    assert.equal(await countBlobs(store), blobsBefore);
    await rm(dir, { recursive: true, force: true });
  });

  test("memory stays bounded while packing a ~200 MiB tree", async () => {
    const dir = join(root, "big");
    await mkdir(dir);
    for (let i = 0; i < 20; i++) await writeRandomFile(join(dir, `random-${i}.bin`), 8 * MiB);
    const text = "the quick brown fox jumps over the lazy dog\n".repeat(24_000);
    for (let i = 0; i < 40; i++) await writeFile(join(dir, `text-${i}.txt`), text);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const info = await packTree(dir, store);
      assert.ok(info.size > 160 * MiB, `the archive holds the random data (${info.size} bytes)`);
    } finally {
      clearInterval(sampler);
      await rm(dir, { recursive: true, force: true });
    }
    const growthMiB = (peak - baseline) / MiB;
    assert.ok(growthMiB < 100, `RSS grew by ${growthMiB.toFixed(1)} MiB while packing`);
  });
});

async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  for (let done = 0; done < bytes; done += MiB) {
    if (!out.write(randomBytes(MiB))) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
}

async function countBlobs(store: FsArtifactStore): Promise<number> {
  let n = 0;
  for await (const _ of store.listBlobs()) n += 1;
  return n;
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** The pid of the tar packing `dir` (it leads its own process group). */
async function waitForTar(dir: string): Promise<number> {
  let pid: number | undefined;
  await waitFor(`tar to start on ${dir}`, async () => {
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
      const argv = cmdline.split("\0");
      if (argv[0] === "tar" && argv.includes(dir)) pid = Number(name);
    }
    return pid !== undefined;
  });
  return pid ?? -1;
}

/** Pids of the live processes whose process group is `pgid`. */
async function processesInGroup(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // Fields after the parenthesised command: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) out.push(Number(name));
  }
  return out;
}
