/**
 * The hostile-archive corpus (test/helpers/hostile-archive-corpus.ts) against the unpack
 * functions: it covers every kind of hostile input, and `unpackFile` and `unpackBlob` refuse every
 * case with `unsafe_archive`, the reason, the entry to blame (where there is one) and the archive
 * or artifact named, leave the destination empty (an absent one is not created), and change
 * nothing outside it: the sentinel directory the hostile paths aim at is byte-for-byte as it was.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { unpackBlob, unpackFile } from "../../shared/pack/index.js";
import { exists, HostileBench } from "../helpers/hostile-archive-bench.js";
import { assertRefusal } from "../helpers/hostile-archive-corpus.js";

void describe("hostile archive corpus", { timeout: 300_000 }, () => {
  let bench: HostileBench;
  before(async () => {
    bench = await HostileBench.create();
  });
  after(async () => {
    await bench.close();
  });

  test("the corpus covers every kind of hostile input the issue names", () => {
    const kinds: Array<[string, RegExp]> = [
      ['".." components', /^"\.\."/],
      ["absolute paths", /^absolute/],
      ["a symlink, then a write through it", /symlink, then a (write|hardlink) through it/],
      ["relative symlink escapes", /relative symlink escaping/],
      ["hardlinks out of the root", /^hardlink (out of the root|to an absolute path)/],
      ["device nodes", /device node$/],
      ["a directory later replaced by a symlink", /directory replaced by a symlink/],
      ["truncated input", /truncated|cut in the middle/],
      ["non-tar input", /random bytes|plain text|empty input/],
      // issue 13
      ["a FIFO or symlink carrying a size", /^(FIFO|symlink) with a size/],
      ["a numeric field the two parsers read differently", /size field read as 0 by tar-stream/],
      ["a 2000-level deep tree", /2000-level deep tree/],
      ["a path component over 255 bytes", /256-byte path component/],
      ["an archive over the unpacked-size cap", /unpacking to 100 GiB/],
    ];
    for (const [kind, re] of kinds)
      assert.ok(
        bench.cases.some((c) => re.test(c.name)),
        `no case for ${kind} in: ${bench.cases.map((c) => c.name).join("; ")}`,
      );
  });

  test("unpackFile refuses every case and writes nothing anywhere", async () => {
    await mkdir(join(bench.root, "archives"), { recursive: true });
    for (const [i, c] of bench.cases.entries()) {
      const file = join(bench.root, "archives", `case-${i}.bin`);
      await writeFile(file, c.bytes);
      const dest = await bench.freshDest();
      const err = await unpackFile(file, dest).then(
        () => assert.fail(`${c.name}: unpackFile accepted it`),
        (e: unknown) => e,
      );
      assertRefusal(err, c, "unpackFile");
      assert.ok(err.message.includes(`archive ${file}`), `${c.name}: names the archive: ${err.message}`);
      assert.deepEqual(await readdir(dest), [], `${c.name}: the destination stays empty`);
      await bench.assertNothingOutside(c.name);
      // An absent destination is not created either.
      const absent = bench.absentDest();
      assertRefusal(await unpackFile(file, absent).catch((e: unknown) => e), c, "unpackFile, absent dest");
      assert.equal(await exists(absent), false, `${c.name}: an absent destination is not created`);
    }
  });

  test("unpackBlob refuses every case from the store and writes nothing anywhere", async () => {
    for (const c of bench.cases) {
      const blob = await bench.store.putBlob(Readable.from([c.bytes]));
      const dest = await bench.freshDest();
      const err = await unpackBlob(bench.store, blob.digest, dest).then(
        () => assert.fail(`${c.name}: unpackBlob accepted it`),
        (e: unknown) => e,
      );
      assertRefusal(err, c, "unpackBlob");
      assert.ok(
        err.message.includes(`artifact ${blob.digest}`),
        `${c.name}: names the artifact: ${err.message}`,
      );
      assert.deepEqual(await readdir(dest), [], `${c.name}: the destination stays empty`);
      await bench.assertNothingOutside(c.name);
    }
  });
});
