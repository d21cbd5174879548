/**
 * Safe unpacking against hand-crafted hostile archives: each is refused by the validation pass
 * with `unsafe_archive` and a message naming the archive, the entry and the reason, while
 * nothing is written outside the destination (a sentinel directory next to it stays exactly as
 * it was) and the destination stays empty. Also: device nodes, damaged input, every supported
 * compression, destination rules, cleanup after a failed or cancelled extraction.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { packTree, packTreeToFile, unpackBlob, unpackFile } from "../../shared/pack/index.js";
import { scanArchive } from "../../shared/pack/testing.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import {
  compress,
  dir,
  regular,
  hardlink,
  longName,
  paxRecords,
  rawHeader,
  snapshotTree,
  symlink,
  writeTar,
  type FixtureCompression,
  type FixtureEntry,
} from "../helpers/tar-fixtures.js";
import { poll } from "../helpers/poll.js";

function isError(code: ErrorCode, ...mentions: (string | RegExp)[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) {
      const found = typeof m === "string" ? err.message.includes(m) : m.test(err.message);
      assert.ok(found, `"${err.message}" should mention ${String(m)}`);
    }
    return true;
  };
}

let root: string;
let sentinel: string;
let archives: string;
let caseNo = 0;

before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), "sf-unpack-"));
  sentinel = join(root, "sentinel");
  archives = join(root, "archives");
  await fs.mkdir(join(sentinel, "etc"), { recursive: true });
  await fs.writeFile(join(sentinel, "keep"), "original\n");
  await fs.writeFile(join(sentinel, "etc/passwd"), "root:x:0:0\n");
  await fs.mkdir(archives);
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A fresh, empty destination directory (next to the sentinel). */
async function freshDest(): Promise<string> {
  caseNo += 1;
  const dest = join(root, `dest-${caseNo}`);
  await fs.mkdir(dest);
  return dest;
}

async function archive(name: string, entries: FixtureEntry[], compression: FixtureCompression = "none") {
  const file = join(archives, `${name}.tar${compression === "none" ? "" : `.${compression}`}`);
  await writeTar(file, entries, compression);
  return file;
}

/** A hostile archive: a name, its entries, the entry the refusal must name, and the reason it must give. */
type Hostile = [name: string, entries: FixtureEntry[], entry: string, reason: RegExp];

/** Unpacks each archive, expecting a refusal naming it, the entry and the reason, and that nothing leaked. */
async function expectRefused(...cases: Hostile[]): Promise<void> {
  for (const [name, entries, entry, reason] of cases) {
    const file = await archive(name, entries, "zstd");
    const dest = await freshDest();
    const sentinelBefore = await snapshotTree(sentinel);
    await assert.rejects(unpackFile(file, dest), isError("unsafe_archive", file, `entry "${entry}"`, reason));
    await assert.rejects(scanArchive(file), isError("unsafe_archive", file, reason));
    assert.deepEqual(await fs.readdir(dest), [], `${name}: the destination stays empty`);
    assert.deepEqual(await snapshotTree(sentinel), sentinelBefore, `${name}: nothing outside dest changed`);
    const strays = (await fs.readdir(root)).filter(
      (n) => !/^(dest-.*|sentinel|archives|store|trees)$/.test(n),
    );
    assert.deepEqual(strays, [], `${name}: nothing was written next to the destination`);
  }
}

const dotdot = /has a "\.\." component/;
const notEarlier = /not an earlier regular file/;
const absolute = /hardlink.*absolute path/;

describe("unpack refuses hostile archives", () => {
  test("absolute member paths", async () => {
    const evil = join(sentinel, "evil");
    await expectRefused(["absolute", [regular(evil, "x")], evil, /absolute path/]);
  });

  test('".." components, also hidden in pax path, GNU long name or GNU.sparse.name records', async () => {
    const evil = "../sentinel/evil";
    await expectRefused(
      ["dotdot", [regular(evil, "x")], evil, dotdot],
      ["dotdot-mid", [regular("a/../../sentinel/evil")], "a/../../sentinel/evil", dotdot],
      ["pax-path", [{ name: "innocent", pax: { path: evil } }], evil, dotdot],
      ["gnu-longname", [longName("L", evil), regular("innocent")], evil, dotdot],
      ["sparse-name", [{ name: "innocent", content: "x", pax: { "GNU.sparse.name": evil } }], evil, dotdot],
    );
  });

  test("a pax global header that renames every later member", async () => {
    const global = { raw: rawHeader("pax_global_header", "g", paxRecords({ path: "../sentinel/evil" })) };
    await expectRefused([
      "global-path",
      [global, regular("innocent")],
      "innocent",
      /global header sets path/,
    ]);
    // A global header carrying only a comment (as `git archive` writes) is fine.
    const comment = { raw: rawHeader("pax_global_header", "g", paxRecords({ comment: "0123abcd" })) };
    const ok = await archive("global-comment", [comment, regular("ok", "fine\n")]);
    const dest = await freshDest();
    await unpackFile(ok, dest);
    assert.equal(await fs.readFile(join(dest, "ok"), "utf8"), "fine\n");
  });

  test("hardlinks to absolute, escaping, unseen or non-regular targets", async () => {
    const keep = join(sentinel, "keep");
    await expectRefused(
      ["hl-abs", [hardlink("hl", keep)], "hl", absolute],
      ["hl-longlink", [longName("K", keep), hardlink("hl", "x")], "hl", absolute],
      ["hl-dotdot", [hardlink("hl", "../sentinel/keep")], "hl", /hardlink.*"\.\." component/],
      ["hl-unseen", [hardlink("hl", "later"), regular("later")], "hl", notEarlier],
      ["hl-dir", [dir("d"), hardlink("hl", "d")], "hl", notEarlier],
      ["hl-symlink", [symlink("s", keep), hardlink("hl", "s")], "hl", notEarlier],
    );
  });

  test("symlinks whose relative target leaves the root, lexically or through other links", async () => {
    await expectRefused(
      [
        "symlink-up",
        [dir("a"), symlink("a/l", "../../sentinel")],
        "a/l",
        /target "\.\.\/\.\.\/sentinel" leads outside the extraction root/,
      ],
      [
        "symlink-chain",
        [dir("d"), symlink("d/up", ".."), symlink("x", "d/up/../sentinel")],
        "x",
        /leads outside the extraction root \(through the symlink "d\/up"\)/,
      ],
      ["symlink-empty", [symlink("e", "")], "e", /empty target/],
      ["symlink-too-long", [symlink("l", "a".repeat(5000))], "l", /symlink target is too long/],
      ["symlink-too-deep", [symlink("l", `${"a/".repeat(600)}x`)], "l", /too many symlinks and components/],
    );
  });

  test("members written through an earlier symlink", async () => {
    const through = /written through the symlink "link"/;
    await expectRefused(
      [
        "through-abs",
        [symlink("link", join(sentinel, "etc")), regular("link/passwd", "x")],
        "link/passwd",
        through,
      ],
      ["through-rel", [dir("sub"), symlink("link", "sub"), regular("./link/x")], "./link/x", through],
      [
        "through-hardlink",
        [regular("f"), symlink("link", sentinel), hardlink("link/hl", "f")],
        "link/hl",
        through,
      ],
    );
  });

  test("a directory replaced by a symlink, and a symlink by a directory", async () => {
    const link = symlink("a", join(sentinel, "etc"));
    const replacesDir = /replace the earlier directory "a" with a symlink/;
    await expectRefused(
      ["dir-then-symlink", [dir("a"), link, regular("a/passwd", "x")], "a", replacesDir],
      ["implicit-dir-then-symlink", [regular("a/f"), link], "a", replacesDir],
      ["symlink-then-dir", [link, dir("a", 0o777)], "a", /replace the earlier symlink "a" with a directory/],
      ["root-symlink", [symlink("./", sentinel)], "./", /extraction root/],
    );
  });

  test("device nodes, contiguous files and unknown entry types", async () => {
    await expectRefused(
      [
        "chardev",
        [{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }],
        "null",
        /character device/,
      ],
      [
        "blockdev",
        [{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }],
        "sda",
        /block device node/,
      ],
      ["contiguous", [{ name: "c", type: "contiguous-file" }], "c", /contiguous/],
      ["unknown-type", [{ raw: rawHeader("odd", "Z") }], "odd", /unsupported entry type/],
    );
  });
});

describe("unpack refuses damaged input", () => {
  let good: string;

  before(async () => {
    const tree = join(root, "trees", "damaged");
    await fs.mkdir(join(tree, "d"), { recursive: true });
    await fs.writeFile(join(tree, "d/random"), randomBytes(256 * 1024));
    good = join(archives, "good.tar.zst");
    await packTreeToFile(tree, good);
  });

  async function expectDamaged(file: string, reason: RegExp): Promise<void> {
    const dest = await freshDest();
    await assert.rejects(unpackFile(file, dest), isError("unsafe_archive", file, reason));
    assert.deepEqual(await fs.readdir(dest), []);
  }

  test("a truncated zstd stream", async () => {
    const file = join(archives, "truncated.tar.zst");
    await fs.writeFile(file, (await fs.readFile(good)).subarray(0, 100_000));
    await expectDamaged(file, /\(zstd\) is truncated or corrupt: zstd exited with status 1/);
  });

  test("random bytes, with and without a zstd magic number", async () => {
    const plain = join(archives, "random.bin");
    await fs.writeFile(plain, randomBytes(10_000));
    await expectDamaged(plain, /is not a tar archive/);
    const zst = join(archives, "random.zst");
    await fs.writeFile(zst, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(10_000)]));
    await expectDamaged(zst, /\(zstd\) is truncated or corrupt/);
  });

  test("a plain tar cut in the middle of an entry, an empty file, compressed non-tar data", async () => {
    const cut = join(archives, "cut.tar");
    await writeTar(cut, [regular("big", randomBytes(100_000))]);
    await fs.truncate(cut, 50_000);
    await expectDamaged(cut, /is truncated: it ends in the middle of an entry/);
    const empty = join(archives, "empty.tar");
    await fs.writeFile(empty, "");
    await expectDamaged(empty, /is empty: not a tar archive/);
    const text = join(archives, "text.gz");
    await fs.writeFile(text, await compress(Buffer.from("just text\n".repeat(100)), "gzip"));
    await expectDamaged(text, /\(gzip\) is not a tar archive/);
  });
});

describe("unpack accepts what it should", () => {
  test("every supported compression, detected by magic bytes", async () => {
    for (const compression of ["zstd", "xz", "bzip2", "gzip", "none"] as const) {
      const usrFile = { name: "./usr/file", content: `${compression}\n`, mode: 0o640 };
      const file = await archive(`ok-${compression}`, [dir("./"), dir("./usr/"), usrFile], compression);
      const renamed = join(archives, `misnamed-${compression}.bin`);
      await fs.writeFile(renamed, await fs.readFile(file));
      assert.deepEqual(await scanArchive(renamed), { entries: 3, bytes: compression.length + 1 });
      const dest = await freshDest();
      await unpackFile(renamed, dest);
      assert.equal(await fs.readFile(join(dest, "usr/file"), "utf8"), `${compression}\n`);
      assert.equal((await fs.stat(join(dest, "usr/file"))).mode & 0o7777, 0o640);
    }
  });

  test("every format GNU tar writes passes the strict header reading, base-256 ids and dates too", async () => {
    const tree = join(root, "trees", "formats");
    await fs.mkdir(join(tree, "d"), { recursive: true });
    await fs.writeFile(join(tree, "d/f"), "hi\n");
    await fs.symlink("d/f", join(tree, "l"));
    await fs.link(join(tree, "d/f"), join(tree, "hl"));
    await execa("mkfifo", [join(tree, "p")]);
    // A uid over 2097151 and an mtime before 1970: GNU format writes both in base-256.
    await fs.chown(join(tree, "d/f"), 3_000_000, 3_000_000);
    await fs.utimes(join(tree, "d/f"), new Date("1960-01-01"), new Date("1960-01-01"));
    // (ustar cannot hold them; the fixtures elsewhere are ustar, written by tar-stream.)
    for (const format of ["gnu", "oldgnu", "posix"]) {
      const file = join(archives, `format-${format}.tar`);
      await execa("tar", [`--format=${format}`, "-cf", file, "-C", tree, "."]);
      assert.deepEqual(await scanArchive(file), { entries: 6, bytes: 3 }, format);
      const dest = await freshDest();
      await unpackFile(file, dest);
      const st = await fs.stat(join(dest, "d/f"));
      assert.deepEqual([st.uid, st.mtime.getUTCFullYear()], [3_000_000, 1960], format);
    }
  });

  test("absolute symlinks as a rootfs has them, and links within the tree", async () => {
    const file = await archive("rootfs-links", [
      regular("./usr/lib/libfoo.so.1", "lib"),
      symlink("./usr/lib/libfoo.so", "/usr/lib/libfoo.so.1"),
      symlink("./lib", "usr/lib"),
      symlink("./usr/bin/up", "../lib/libfoo.so.1"),
      hardlink("./usr/lib/libfoo-hl", "./usr/lib/libfoo.so.1"),
      symlink("./etc/mtab", "../proc/self/mounts"),
    ]);
    const dest = await freshDest();
    await unpackFile(file, dest);
    assert.equal(await fs.readlink(join(dest, "usr/lib/libfoo.so")), "/usr/lib/libfoo.so.1");
    assert.equal(await fs.readlink(join(dest, "lib")), "usr/lib");
    assert.equal(await fs.readFile(join(dest, "usr/bin/up"), "utf8"), "lib");
    const inode = async (p: string): Promise<number> => (await fs.stat(join(dest, p))).ino;
    assert.equal(await inode("usr/lib/libfoo-hl"), await inode("usr/lib/libfoo.so.1"));
  });

  test("device nodes only with allowDevices, through the store (pack→unpackBlob)", async () => {
    const tree = join(root, "trees", "devices");
    await fs.mkdir(join(tree, "dev"), { recursive: true });
    await execa("mknod", ["-m", "666", join(tree, "dev/null"), "c", "1", "3"]);
    await execa("mknod", ["-m", "660", join(tree, "dev/loop9"), "b", "7", "9"]);
    await fs.writeFile(join(tree, "hello"), "hi\n");
    const store = await FsArtifactStore.open(join(root, "store"));
    try {
      const blob = await packTree(tree, store);
      const refused = await freshDest();
      await assert.rejects(
        unpackBlob(store, blob.digest, refused),
        isError("unsafe_archive", `artifact ${blob.digest}`, 'entry "./dev/loop9"', /block device node/),
      );
      assert.deepEqual(await fs.readdir(refused), []);

      const dest = join(root, `dest-devices-absent`); // removed with the root
      await unpackBlob(store, blob.digest, dest, { allowDevices: true });
      const got = await snapshotTree(dest);
      assert.deepEqual(got, await snapshotTree(tree));
      assert.equal(got.get("dev/null")?.type, "char");
      assert.equal(got.get("dev/loop9")?.type, "block");
    } finally {
      await store.close();
    }
  });
});

describe("the unpacked-size cap (issue 13 item 20)", () => {
  test("an archive of a few KB that unpacks past the cap is refused before anything is written", async () => {
    const zeros = await archive("zeros", [regular("zeros", Buffer.alloc(96 << 20))], "zstd");
    assert.ok((await fs.stat(zeros)).size < 64 << 10, "the archive itself is small");
    const dest = await freshDest();
    await assert.rejects(
      unpackFile(zeros, dest, { limits: { maxUnpackedBytes: 64 << 20 } }),
      isError(
        "unsafe_archive",
        zeros,
        'entry "zeros"',
        /unpacks to more than 67108864 bytes, the limit per input/,
      ),
    );
    assert.deepEqual(await fs.readdir(dest), [], "nothing was written");
    const sparse = {
      name: "GNUSparseFile.0/s",
      content: Buffer.alloc(513),
      pax: {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "s",
        "GNU.sparse.realsize": String(80 << 20),
      },
    };
    const claimed = await archive("sparse-claim", [sparse], "zstd");
    await assert.rejects(
      scanArchive(claimed, { limits: { maxUnpackedBytes: 64 << 20 } }),
      isError("unsafe_archive", 'entry "s"', /unpacks to more than 67108864 bytes/),
      "a sparse file counts by its real size",
    );
    const roomy = await freshDest();
    await unpackFile(zeros, roomy, { limits: { maxUnpackedBytes: Number.POSITIVE_INFINITY } });
    assert.equal((await fs.stat(join(roomy, "zeros"))).size, 96 << 20, "off: no cap");
    await fs.rm(join(roomy, "zeros"));
  });
});

describe("unpack destination rules and cleanup", () => {
  let file: string;

  before(async () => {
    file = await archive("plain", [regular("a/b", "x")]);
  });

  test("a non-empty directory, a file or a symlink is refused as destination", async () => {
    const full = await freshDest();
    await fs.writeFile(join(full, "already"), "x");
    await assert.rejects(unpackFile(file, full), isError("invalid_argument", full, "not empty"));
    const plainFile = join(root, "dest-file");
    await fs.writeFile(plainFile, "x");
    await assert.rejects(unpackFile(file, plainFile), isError("invalid_argument", "not a directory"));
    const link = join(root, "dest-link");
    await fs.symlink(await freshDest(), link);
    await assert.rejects(unpackFile(file, link), isError("invalid_argument", "is a symlink"));
    await fs.rm(plainFile);
    await fs.rm(link);
  });

  test("an absent destination is created, and removed again when extraction fails", async () => {
    const dest = join(root, "dest-created");
    await unpackFile(file, dest);
    assert.equal(await fs.readFile(join(dest, "a/b"), "utf8"), "x");
    await fs.rm(dest, { recursive: true });

    // Passes validation, fails in tar: the destination's file system is full (a 256 KiB tmpfs).
    const small = join(root, "small-fs");
    await fs.mkdir(small);
    await execa("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", small]);
    try {
      const entries = [dir("./", 0o700), regular("first"), regular("big", randomBytes(1 << 20))];
      const tooBig = await archive("too-big", entries);
      const inSmall = join(small, "dest");
      await assert.rejects(
        unpackFile(tooBig, inSmall),
        isError("internal", inSmall, /tar exited with status 2/),
      );
      await assert.rejects(fs.stat(inSmall), { code: "ENOENT" });

      const empty = join(small, "empty");
      await fs.mkdir(empty);
      await fs.chmod(empty, 0o750);
      await fs.chown(empty, 4321, 4321);
      await fs.utimes(empty, new Date(Date.UTC(2020, 0, 1)), new Date(Date.UTC(2020, 0, 2)));
      const before = await fs.stat(empty);
      await assert.rejects(unpackFile(tooBig, empty), isError("internal"));
      assert.deepEqual(await fs.readdir(empty), [], "an empty destination is emptied again");
      const after = await fs.stat(empty);
      assert.deepEqual(
        [after.mode, after.uid, after.gid, after.mtimeMs],
        [before.mode, before.uid, before.gid, before.mtimeMs],
        "and gets its mode, owner and mtime back",
      );
    } finally {
      await execa("umount", [small]);
    }
  });

  test("cancelling stops tar and leaves the destination as it was", async () => {
    const big = await archive(
      "big",
      Array.from({ length: 24 }, (_, i) => regular(`f${i}`, randomBytes(8 << 20))),
    );
    const never = unpackFile(big, join(root, "dest-never"), { signal: AbortSignal.abort() });
    await assert.rejects(never, isError("cancelled"));
    await assert.rejects(fs.stat(join(root, "dest-never")), { code: "ENOENT" });

    const dest = join(root, "dest-cancelled");
    const ac = new AbortController();
    const unpacking = unpackFile(big, dest, { signal: ac.signal });
    await poll(async () => (await fs.readdir(dest).catch(() => [])).length > 0, {
      timeoutMs: 20_000,
      what: "the extraction to start",
      intervalMs: 2,
    });
    ac.abort();
    await assert.rejects(unpacking, isError("cancelled", dest));
    await assert.rejects(fs.stat(dest), { code: "ENOENT" });
  });
});
