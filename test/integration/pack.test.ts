/**
 * Deterministic packing with real GNU tar and zstd: equal trees give equal bytes (also after
 * atime-only changes, and with clamped mtimes), content changes show, excludes and
 * --one-file-system leave things out, and a pack→unpack round trip keeps content, modes,
 * owners, links and xattrs. Memory stays bounded on a tree of ~200 MiB.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { packTree, packTreeToFile, unpackBlob } from "../../shared/pack/index.js";
import { packTreeInto } from "../../shared/pack/testing.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { listTarZst, readXattrs, snapshotTree, writeFileWithXattrs } from "../helpers/tar-fixtures.js";
import { poll } from "../helpers/poll.js";

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
    await fs.mkdir(join(dir, d), { recursive: true });
  await fs.writeFile(join(dir, "etc/conf"), "key = value\n");
  await fs.writeFile(join(dir, "bin/tool"), "#!/bin/sh\necho tool\n");
  await fs.chmod(join(dir, "bin/tool"), 0o755);
  await fs.link(join(dir, "bin/tool"), join(dir, "bin/tool-hardlink"));
  await fs.writeFile(join(dir, "bin/suid"), "suid\n");
  await fs.chmod(join(dir, "bin/suid"), 0o4755);
  await fs.mkdir(join(dir, "tmp"), { mode: 0o1777 });
  await fs.chmod(join(dir, "tmp"), 0o1777);
  await fs.mkdir(join(dir, "empty"));
  await fs.chmod(join(dir, "empty"), 0o700);
  await fs.writeFile(join(dir, "usr/lib/libfoo.so.1"), randomBytes(4096));
  await fs.symlink("libfoo.so.1", join(dir, "usr/lib/libfoo.so"));
  await fs.symlink("usr/lib", join(dir, "lib"));
  await fs.symlink("/usr/lib/libfoo.so.1", join(dir, "abs-link"));
  await fs.writeFile(join(dir, "home/user/file"), "mine\n");
  await fs.chown(join(dir, "home/user/file"), 1234, 5678);
  await fs.chown(join(dir, "home/user"), 1234, 5678);
  await fs.writeFile(join(dir, "var/tmp/a"), "tmp\n");
  await fs.writeFile(join(dir, "var/tmp/sub/b"), "tmp\n");
  await fs.writeFile(join(dir, "var/cache/c"), "cache\n");
  await fs.writeFile(join(dir, "opt/var/tmp/keep"), "not at the root\n");
  await fs.writeFile(join(dir, "run/pid"), "1\n");
  await fs.writeFile(join(dir, "données.txt"), "unicode name\n");
  const deep = join(dir, "a".repeat(60), "b".repeat(60));
  await fs.mkdir(deep, { recursive: true });
  await fs.writeFile(join(deep, "long-name-file"), "long path\n");
  await writeFileWithXattrs(join(dir, "bin"), "xattr-file", "has xattrs\n", {
    "user.foo": "bar",
    "user.empty": "",
  });
  if (withCapability) {
    await fs.writeFile(join(dir, "bin/ping"), "ping\n");
    await execa("setcap", ["cap_net_raw+ep", join(dir, "bin/ping")]);
  }
}

/** Sets atime/mtime of every entry below `dir` (symlinks included, not followed). */
async function setAllTimes(dir: string, time: (rel: string) => { atime: Date; mtime: Date }): Promise<void> {
  const tree = await snapshotTree(dir);
  // Deepest first, so a directory's mtime is set after its children's.
  for (const rel of [...tree.keys()].sort((a, b) => b.length - a.length)) {
    const t = time(rel);
    await fs.lutimes(rel === "" ? dir : join(dir, rel), t.atime, t.mtime);
  }
}

describe("packTree (GNU tar + zstd, deterministic)", () => {
  let root: string;
  let store: FsArtifactStore;
  let withCapability = false;
  let tree: string;

  before(async () => {
    root = await fs.mkdtemp(join(tmpdir(), "sf-pack-"));
    store = await FsArtifactStore.open(join(root, "store"));
    withCapability = (await hasProgram("setcap")) && (await hasProgram("getcap"));
    tree = join(root, "tree");
    await fs.mkdir(tree);
    await makeTree(tree, withCapability);
  });

  after(async () => {
    await store.close();
    await fs.rm(root, { recursive: true, force: true });
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
    assert.ok(Buffer.concat(chunks).equals(await fs.readFile(file)));
    assert.deepEqual(
      await fs.readdir(root),
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
    await fs.writeFile(file, "key = VALUE\n"); // same size
    await fs.utimes(file, mtime, mtime);
    try {
      assert.notEqual((await packTree(tree, store)).digest, before.digest);
    } finally {
      await fs.writeFile(file, "key = value\n");
      await fs.utimes(file, mtime, mtime);
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
      const xattrs = { "user.foo": "bar", "user.empty": "" };
      assert.deepEqual(await readXattrs(join(dest, "bin"), "xattr-file"), xattrs);
      if (withCapability) {
        const { stdout } = await execa("getcap", [join(dest, "bin/ping")]);
        assert.match(stdout, /cap_net_raw[=+]ep/);
      }
      const temps = (await fs.readdir(root)).filter((n) => n.includes("sf-archive"));
      assert.deepEqual(temps, [], "the temp archive is removed");
    } finally {
      await fs.rm(dest, { recursive: true, force: true });
    }
  });

  test("clampMtimeSec makes trees that differ only in mtimes pack identically", async () => {
    const a = join(root, "clamp-a");
    const b = join(root, "clamp-b");
    for (const d of [a, b]) {
      await fs.mkdir(d);
      await fs.mkdir(join(d, "sub"));
      await fs.writeFile(join(d, "sub/f"), "same\n");
      await fs.symlink("sub/f", join(d, "l"));
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
      await fs.rm(a, { recursive: true, force: true });
      await fs.rm(b, { recursive: true, force: true });
    }
  });

  test("file systems mounted inside the tree are not packed (--one-file-system)", async (t) => {
    const dir = join(root, "mounted");
    await fs.mkdir(join(dir, "proc"), { recursive: true });
    await fs.writeFile(join(dir, "file"), "x\n");
    const mounted = await execa("mount", ["-t", "tmpfs", "sf-test", join(dir, "proc")], { reject: false });
    if (mounted.exitCode !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr}`);
      await fs.rm(dir, { recursive: true, force: true });
      return;
    }
    try {
      await fs.writeFile(join(dir, "proc/inside-mount"), "x\n");
      const file = join(root, "mounted.tar.zst");
      await packTreeToFile(dir, file);
      const names = (await listTarZst(file)).map((e) => e.name);
      assert.deepEqual(names, ["./", "./file", "./proc/"]);
    } finally {
      await execa("umount", [join(dir, "proc")]);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test("a consumer that starts reading late still gets every byte", async () => {
    const dir = join(root, "late");
    await fs.mkdir(dir);
    await fs.writeFile(join(dir, "f"), randomBytes(256 * 1024));
    const expected = await packTree(dir, store);
    const got = await packTreeInto(dir, async (data) => {
      // Start reading only once tar has finished writing everything (it fits in the buffers).
      await poll(async () => (await tarPids(dir)).length === 0, { timeoutMs: 10_000, what: "tar to exit" });
      const h = createHash("sha256");
      let size = 0;
      for await (const chunk of data as AsyncIterable<Buffer>) {
        h.update(chunk);
        size += chunk.length;
      }
      return { digest: h.digest("hex"), size };
    });
    assert.deepEqual(got, expected);
    await fs.rm(dir, { recursive: true, force: true });
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
    await fs.mkdir(dir);
    const file = join(dir, "growing.log");
    await fs.writeFile(file, randomBytes(64 * MiB));
    const blobsBefore = await countBlobs(store);
    const writer = execa("sh", ["-c", `while :; do echo more >> '${file}'; done`], { reject: false });
    try {
      await assert.rejects(packTree(dir, store), isError("unavailable", dir, "file changed as we read it"));
    } finally {
      writer.kill("SIGKILL");
      await writer;
      await fs.rm(dir, { recursive: true, force: true });
    }
    assert.equal(await countBlobs(store), blobsBefore);
  });

  test("abort stops tar and zstd, stores nothing and reports cancelled", async () => {
    const dir = join(root, "abort");
    await fs.mkdir(dir);
    // 64 GiB of holes: tar reads zeros for minutes, and the disk holds nothing.
    await fs.writeFile(join(dir, "sparse"), "");
    await fs.truncate(join(dir, "sparse"), 64 * 1024 * MiB);
    const blobsBefore = await countBlobs(store);
    const ac = new AbortController();
    const packing = packTree(dir, store, { signal: ac.signal });
    const pgid = await waitForTar(dir);
    assert.ok((await processesInGroup(pgid)).length >= 2, "tar and the zstd it started run in one group");
    ac.abort();
    await assert.rejects(packing, isError("cancelled", dir));
    await poll(async () => (await processesInGroup(pgid)).length === 0, {
      timeoutMs: 10_000,
      what: "tar's process group to be gone",
    });
    assert.equal(await countBlobs(store), blobsBefore);
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("memory stays bounded while packing a ~200 MiB tree", async (t) => {
    const dir = join(root, "big");
    await fs.mkdir(dir);
    for (let i = 0; i < 20; i++) await writeRandomFile(join(dir, `random-${i}.bin`), 8 * MiB);
    const text = "the quick brown fox jumps over the lazy dog\n".repeat(24_000);
    for (let i = 0; i < 40; i++) await fs.writeFile(join(dir, `text-${i}.txt`), text);
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
      await fs.rm(dir, { recursive: true, force: true });
    }
    const growthMiB = (peak - baseline) / MiB;
    t.diagnostic(`RSS grew by ${growthMiB.toFixed(1)} MiB while packing`);
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

/** Pids of the live tar processes packing `dir`. */
async function tarPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await fs.readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "")).split("\0");
    const state = (await fs.readFile(`/proc/${name}/stat`, "utf8").catch(() => "")).split(") ")[1]?.[0];
    if (argv[0] === "tar" && argv.includes(dir) && state !== "Z") pids.push(Number(name));
  }
  return pids;
}

/** The pid of the tar packing `dir` (it leads its own process group). */
async function waitForTar(dir: string): Promise<number> {
  return poll(async () => (await tarPids(dir))[0], { timeoutMs: 10_000, what: `tar to start on ${dir}` });
}

/** Pids of the live processes whose process group is `pgid`. */
async function processesInGroup(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // Fields after the parenthesised command: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) out.push(Number(name));
  }
  return out;
}
