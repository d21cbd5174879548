/**
 * Safe unpacking against hand-crafted hostile archives: each is refused by the validation pass
 * with `unsafe_archive` and a message naming the archive, the entry and the reason, while
 * nothing is written outside the destination (a sentinel directory next to it stays exactly as
 * it was) and the destination stays empty. Also: device nodes, damaged input, every supported
 * compression, destination rules, cleanup after a failed or cancelled extraction.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { packTree, packTreeToFile, scanArchive, unpackBlob, unpackFile } from "../../shared/pack/index.js";
import { FsArtifactStore } from "../../shared/store/fs-store.js";
import {
  paxRecords,
  rawHeader,
  snapshotTree,
  writeTar,
  type FixtureCompression,
  type FixtureEntry,
} from "../helpers/tar-fixtures.js";

function isError(code: ErrorCode, ...mentions: (string | RegExp)[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) {
      if (typeof m === "string") assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
      else assert.match(err.message, m);
    }
    return true;
  };
}

let root: string;
let sentinel: string;
let archives: string;
let caseNo = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "sf-unpack-"));
  sentinel = join(root, "sentinel");
  archives = join(root, "archives");
  await mkdir(join(sentinel, "etc"), { recursive: true });
  await writeFile(join(sentinel, "keep"), "original\n");
  await writeFile(join(sentinel, "etc/passwd"), "root:x:0:0\n");
  await mkdir(archives);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh, empty destination directory (next to the sentinel). */
async function freshDest(): Promise<string> {
  caseNo += 1;
  const dest = join(root, `dest-${caseNo}`);
  await mkdir(dest);
  return dest;
}

async function archive(
  name: string,
  entries: FixtureEntry[],
  compression: FixtureCompression = "none",
): Promise<string> {
  const file = join(archives, `${name}.tar${compression === "none" ? "" : `.${compression}`}`);
  await writeTar(file, entries, compression);
  return file;
}

/** A hostile archive: its entries, the entry the refusal must name, and the reason it must give. */
interface Hostile {
  name: string;
  entries: FixtureEntry[];
  entry: string;
  reason: RegExp;
}

/** Unpacks the archive and expects a refusal naming it, the entry and the reason; checks nothing leaked. */
async function expectRefused({ name, entries, entry, reason }: Hostile): Promise<void> {
  const file = await archive(name, entries, "zstd");
  const dest = await freshDest();
  const sentinelBefore = await snapshotTree(sentinel);
  await assert.rejects(unpackFile(file, dest), isError("unsafe_archive", file, `entry "${entry}"`, reason));
  await assert.rejects(scanArchive(file), isError("unsafe_archive", file, reason));
  assert.deepEqual(await readdir(dest), [], `${name}: the destination stays empty`);
  assert.deepEqual(
    await snapshotTree(sentinel),
    sentinelBefore,
    `${name}: nothing outside the destination changed`,
  );
  assert.deepEqual(
    (await readdir(root)).filter((n) => !/^(dest-.*|sentinel|archives|store|trees)$/.test(n)),
    [],
    `${name}: nothing was written next to the destination`,
  );
}

async function expectAllRefused(cases: Hostile[]): Promise<void> {
  for (const c of cases) await expectRefused(c);
}

const dotdot = /has a "\.\." component/;
const notEarlier = /not an earlier regular file/;
const longLink = (typeflag: "L" | "K", target: string): FixtureEntry => ({
  raw: rawHeader("././@LongLink", typeflag, Buffer.from(`${target}\0`)),
});

describe("unpack refuses hostile archives", () => {
  test("absolute member paths", async () => {
    const evil = join(sentinel, "evil");
    await expectRefused({
      name: "absolute",
      entries: [{ name: evil, content: "x" }],
      entry: evil,
      reason: /absolute path/,
    });
  });

  test('".." components, also hidden in pax path, GNU long name or GNU.sparse.name records', async () => {
    const evil = "../sentinel/evil";
    await expectAllRefused([
      { name: "dotdot", entries: [{ name: evil, content: "x" }], entry: evil, reason: dotdot },
      {
        name: "dotdot-mid",
        entries: [{ name: "a/../../sentinel/evil" }],
        entry: "a/../../sentinel/evil",
        reason: dotdot,
      },
      { name: "pax-path", entries: [{ name: "innocent", pax: { path: evil } }], entry: evil, reason: dotdot },
      {
        name: "gnu-longname",
        entries: [longLink("L", evil), { name: "innocent" }],
        entry: evil,
        reason: dotdot,
      },
      {
        name: "sparse-name",
        entries: [{ name: "innocent", content: "x", pax: { "GNU.sparse.name": evil } }],
        entry: evil,
        reason: dotdot,
      },
    ]);
  });

  test("a pax global header that renames every later member", async () => {
    const global = { raw: rawHeader("pax_global_header", "g", paxRecords({ path: "../sentinel/evil" })) };
    await expectRefused({
      name: "global-path",
      entries: [global, { name: "innocent", content: "x" }],
      entry: "innocent",
      reason: /global header sets path/,
    });
    // A global header carrying only a comment (as `git archive` writes) is fine.
    const file = await archive("global-comment", [
      { raw: rawHeader("pax_global_header", "g", paxRecords({ comment: "0123abcd" })) },
      { name: "ok", content: "fine\n" },
    ]);
    const dest = await freshDest();
    await unpackFile(file, dest);
    assert.equal(await readFile(join(dest, "ok"), "utf8"), "fine\n");
  });

  test("hardlinks to absolute, escaping, unseen or non-regular targets", async () => {
    const keep = join(sentinel, "keep");
    const hl = (linkname: string): FixtureEntry => ({ name: "hl", type: "link", linkname });
    await expectAllRefused([
      { name: "hl-abs", entries: [hl(keep)], entry: "hl", reason: /hardlink.*absolute path/ },
      {
        name: "hl-longlink",
        entries: [longLink("K", keep), hl("x")],
        entry: "hl",
        reason: /hardlink.*absolute path/,
      },
      {
        name: "hl-dotdot",
        entries: [hl("../sentinel/keep")],
        entry: "hl",
        reason: /hardlink.*"\.\." component/,
      },
      { name: "hl-unseen", entries: [hl("later"), { name: "later" }], entry: "hl", reason: notEarlier },
      {
        name: "hl-dir",
        entries: [{ name: "d", type: "directory" }, hl("d")],
        entry: "hl",
        reason: notEarlier,
      },
      {
        name: "hl-symlink",
        entries: [{ name: "s", type: "symlink", linkname: keep }, hl("s")],
        entry: "hl",
        reason: notEarlier,
      },
    ]);
  });

  test("symlinks whose relative target leaves the root, lexically or through other links", async () => {
    await expectAllRefused([
      {
        name: "symlink-up",
        entries: [
          { name: "a", type: "directory" },
          { name: "a/l", type: "symlink", linkname: "../../sentinel" },
        ],
        entry: "a/l",
        reason: /target "\.\.\/\.\.\/sentinel" leads outside the extraction root/,
      },
      {
        name: "symlink-chain",
        entries: [
          { name: "d", type: "directory" },
          { name: "d/up", type: "symlink", linkname: ".." },
          { name: "x", type: "symlink", linkname: "d/up/../sentinel" },
        ],
        entry: "x",
        reason: /leads outside the extraction root \(through the symlink "d\/up"\)/,
      },
      {
        name: "symlink-empty",
        entries: [{ name: "e", type: "symlink", linkname: "" }],
        entry: "e",
        reason: /empty target/,
      },
    ]);
  });

  test("members written through an earlier symlink", async () => {
    const through = /written through the symlink "link"/;
    const link = (linkname: string): FixtureEntry => ({ name: "link", type: "symlink", linkname });
    await expectAllRefused([
      {
        name: "through-abs",
        entries: [link(join(sentinel, "etc")), { name: "link/passwd", content: "pwned" }],
        entry: "link/passwd",
        reason: through,
      },
      {
        name: "through-rel",
        entries: [{ name: "sub", type: "directory" }, link("sub"), { name: "./link/x" }],
        entry: "./link/x",
        reason: through,
      },
      {
        name: "through-hardlink-name",
        entries: [{ name: "f" }, link(sentinel), { name: "link/hl", type: "link", linkname: "f" }],
        entry: "link/hl",
        reason: through,
      },
    ]);
  });

  test("a directory replaced by a symlink, and a symlink by a directory", async () => {
    const link = { name: "a", type: "symlink", linkname: join(sentinel, "etc") } as const;
    const replacesDir = /replace the earlier directory "a" with a symlink/;
    await expectAllRefused([
      {
        name: "dir-then-symlink",
        entries: [{ name: "a", type: "directory" }, link, { name: "a/passwd", content: "pwned" }],
        entry: "a",
        reason: replacesDir,
      },
      {
        name: "implicit-dir-then-symlink",
        entries: [{ name: "a/f" }, link],
        entry: "a",
        reason: replacesDir,
      },
      {
        name: "symlink-then-dir",
        entries: [link, { name: "a", type: "directory", mode: 0o777 }],
        entry: "a",
        reason: /replace the earlier symlink "a" with a directory/,
      },
      { name: "root-symlink", entries: [{ ...link, name: "./" }], entry: "./", reason: /extraction root/ },
    ]);
  });

  test("device nodes, contiguous files and unknown entry types", async () => {
    await expectAllRefused([
      {
        name: "chardev",
        entries: [{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }],
        entry: "null",
        reason: /character device node/,
      },
      {
        name: "blockdev",
        entries: [{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }],
        entry: "sda",
        reason: /block device node/,
      },
      {
        name: "contiguous",
        entries: [{ name: "c", type: "contiguous-file" }],
        entry: "c",
        reason: /contiguous/,
      },
      {
        name: "unknown-type",
        entries: [{ raw: rawHeader("odd", "Z") }],
        entry: "odd",
        reason: /unsupported entry type/,
      },
    ]);
  });
});

describe("unpack refuses damaged input", () => {
  let good: string;

  before(async () => {
    const tree = join(root, "trees", "damaged");
    await mkdir(join(tree, "d"), { recursive: true });
    await writeFile(join(tree, "d/random"), randomBytes(256 * 1024));
    good = join(archives, "good.tar.zst");
    await packTreeToFile(tree, good);
  });

  async function expectDamaged(file: string, reason: RegExp): Promise<void> {
    const dest = await freshDest();
    await assert.rejects(unpackFile(file, dest), isError("unsafe_archive", file, reason));
    assert.deepEqual(await readdir(dest), []);
  }

  test("a truncated zstd stream", async () => {
    const file = join(archives, "truncated.tar.zst");
    await writeFile(file, (await readFile(good)).subarray(0, 100_000));
    await expectDamaged(file, /\(zstd\) is truncated or corrupt: zstd exited with status 1/);
  });

  test("random bytes, with and without a zstd magic number", async () => {
    const plain = join(archives, "random.bin");
    await writeFile(plain, randomBytes(10_000));
    await expectDamaged(plain, /is not a tar archive/);
    const zst = join(archives, "random.zst");
    await writeFile(zst, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(10_000)]));
    await expectDamaged(zst, /\(zstd\) is truncated or corrupt/);
  });

  test("a plain tar cut in the middle of an entry, an empty file, compressed non-tar data", async () => {
    const cut = join(archives, "cut.tar");
    await writeTar(cut, [{ name: "big", content: randomBytes(100_000) }]);
    await truncate(cut, 50_000);
    await expectDamaged(cut, /is truncated: it ends in the middle of an entry/);
    const empty = join(archives, "empty.tar");
    await writeFile(empty, "");
    await expectDamaged(empty, /is empty: not a tar archive/);
    const text = join(archives, "text.gz");
    await writeFile(
      text,
      (await execa("gzip", ["-c"], { input: "just text\n".repeat(100), encoding: "buffer" })).stdout,
    );
    await expectDamaged(text, /\(gzip\) is not a tar archive/);
  });
});

describe("unpack accepts what it should", () => {
  test("every supported compression, detected by magic bytes", async () => {
    for (const compression of ["zstd", "xz", "bzip2", "gzip", "none"] as const) {
      const file = await archive(
        `ok-${compression}`,
        [
          { name: "./", type: "directory" },
          { name: "./usr/", type: "directory" },
          { name: "./usr/file", content: `${compression}\n`, mode: 0o640 },
        ],
        compression,
      );
      const renamed = join(archives, `misnamed-${compression}.bin`);
      await writeFile(renamed, await readFile(file));
      assert.deepEqual(await scanArchive(renamed), { entries: 3, bytes: compression.length + 1 });
      const dest = await freshDest();
      await unpackFile(renamed, dest);
      assert.equal(await readFile(join(dest, "usr/file"), "utf8"), `${compression}\n`);
      assert.equal((await stat(join(dest, "usr/file"))).mode & 0o7777, 0o640);
    }
  });

  test("absolute symlinks as a rootfs has them, and links within the tree", async () => {
    const file = await archive("rootfs-links", [
      { name: "./usr/lib/libfoo.so.1", content: "lib" },
      { name: "./usr/lib/libfoo.so", type: "symlink", linkname: "/usr/lib/libfoo.so.1" },
      { name: "./lib", type: "symlink", linkname: "usr/lib" },
      { name: "./usr/bin/up", type: "symlink", linkname: "../lib/libfoo.so.1" },
      { name: "./usr/lib/libfoo-hl", type: "link", linkname: "./usr/lib/libfoo.so.1" },
      { name: "./etc/mtab", type: "symlink", linkname: "../proc/self/mounts" },
    ]);
    const dest = await freshDest();
    await unpackFile(file, dest);
    assert.equal(await readlink(join(dest, "usr/lib/libfoo.so")), "/usr/lib/libfoo.so.1");
    assert.equal(await readlink(join(dest, "lib")), "usr/lib");
    assert.equal(await readFile(join(dest, "usr/bin/up"), "utf8"), "lib");
    assert.equal(
      (await stat(join(dest, "usr/lib/libfoo-hl"))).ino,
      (await stat(join(dest, "usr/lib/libfoo.so.1"))).ino,
    );
  });

  test("device nodes only with allowDevices, through the store (pack→unpackBlob)", async () => {
    const tree = join(root, "trees", "devices");
    await mkdir(join(tree, "dev"), { recursive: true });
    await execa("mknod", ["-m", "666", join(tree, "dev/null"), "c", "1", "3"]);
    await execa("mknod", ["-m", "660", join(tree, "dev/loop9"), "b", "7", "9"]);
    await writeFile(join(tree, "hello"), "hi\n");
    const store = await FsArtifactStore.open(join(root, "store"));
    try {
      const blob = await packTree(tree, store);
      const refused = await freshDest();
      await assert.rejects(
        unpackBlob(store, blob.digest, refused),
        isError("unsafe_archive", `artifact ${blob.digest}`, 'entry "./dev/loop9"', /block device node/),
      );
      assert.deepEqual(await readdir(refused), []);

      const dest = join(root, `dest-devices-absent`);
      await unpackBlob(store, blob.digest, dest, { allowDevices: true });
      try {
        const got = await snapshotTree(dest);
        const want = await snapshotTree(tree);
        assert.deepEqual(got, want);
        assert.equal(got.get("dev/null")?.type, "char");
        assert.equal(got.get("dev/loop9")?.type, "block");
      } finally {
        await rm(dest, { recursive: true, force: true });
      }
    } finally {
      await store.close();
    }
  });
});

describe("unpack destination rules and cleanup", () => {
  let file: string;

  before(async () => {
    file = await archive("plain", [{ name: "a/b", content: "x" }]);
  });

  test("a non-empty directory, a file or a symlink is refused as destination", async () => {
    const full = await freshDest();
    await writeFile(join(full, "already"), "x");
    await assert.rejects(unpackFile(file, full), isError("invalid_argument", full, "not empty"));
    const plainFile = join(root, "dest-file");
    await writeFile(plainFile, "x");
    await assert.rejects(unpackFile(file, plainFile), isError("invalid_argument", "not a directory"));
    await rm(plainFile);
  });

  test("an absent destination is created, and removed again when extraction fails", async () => {
    const dest = join(root, "dest-created");
    await unpackFile(file, dest);
    assert.equal(await readFile(join(dest, "a/b"), "utf8"), "x");
    await rm(dest, { recursive: true });

    // Passes validation, fails in tar: a name component longer than any file system allows.
    const tooLong = await archive("too-long", [
      { name: "first", content: "extracted before the failure" },
      { name: `z/${"n".repeat(300)}`, content: "x" },
    ]);
    await assert.rejects(unpackFile(tooLong, dest), isError("internal", dest, /tar exited with status 2/));
    await assert.rejects(stat(dest), { code: "ENOENT" });
    const empty = await freshDest();
    await assert.rejects(unpackFile(tooLong, empty), isError("internal"));
    assert.deepEqual(await readdir(empty), [], "an empty destination is emptied again");
  });

  test("cancelling stops tar and leaves the destination as it was", async () => {
    const big = await archive(
      "big",
      Array.from({ length: 24 }, (_, i) => ({ name: `f${i}`, content: randomBytes(8 << 20) })),
      "none",
    );
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(
      unpackFile(big, join(root, "dest-never"), { signal: aborted.signal }),
      isError("cancelled"),
    );
    await assert.rejects(stat(join(root, "dest-never")), { code: "ENOENT" });

    const dest = join(root, "dest-cancelled");
    const ac = new AbortController();
    const unpacking = unpackFile(big, dest, { signal: ac.signal });
    const deadline = Date.now() + 20_000;
    while ((await readdir(dest).catch(() => [])).length === 0) {
      if (Date.now() > deadline) throw new Error("extraction never started");
      await delay(2);
    }
    ac.abort();
    await assert.rejects(unpacking, isError("cancelled", dest));
    await assert.rejects(stat(dest), { code: "ENOENT" });
  });
});
