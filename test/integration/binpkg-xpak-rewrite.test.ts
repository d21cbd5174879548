/**
 * rewriteXpakBuildId on real legacy packages (test/helpers/gpkg-writer.ts: GNU tar, bzip2/zstd,
 * an XPAK segment encoded independently): the result reads back with the new BUILD_ID and every
 * other metadata key, its tarball is byte for byte the source's and still extracts; in place
 * works; a gpkg, a bad id and a damaged source are refused, leaving nothing behind.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBinpkg, rewriteXpakBuildId } from "../../shared/binpkg/index.js";
import { isError } from "../helpers/error-predicate.js";
import { writeGpkg, writeXpak } from "../helpers/gpkg-writer.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "xpak-rewrite-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function tarball(b: Buffer): Buffer {
  return b.subarray(0, b.length - 8 - b.readUInt32BE(b.length - 8));
}

void describe("rewriteXpakBuildId", () => {
  for (const compression of ["bz2", "zst"] as const) {
    void test(`${compression}: new BUILD_ID in the XPAK segment, tarball and other keys kept`, async () => {
      const src = await writeXpak(join(dir, compression), {
        category: "app-misc",
        pf: "legacy-1",
        buildId: 1,
        compression,
        randomFiles: { "usr/lib/blob": 100_000 },
      });
      const out = join(dir, compression, "legacy-1-9.xpak");
      const returned = await rewriteXpakBuildId(src, 9, out);
      const read = await readBinpkg(out, { payload: true });
      assert.deepEqual(returned, read);
      assert.equal(read.buildId, 9);
      assert.equal(read.compression, compression);
      const source = await readBinpkg(src);
      assert.deepEqual({ ...read.metadata, BUILD_ID: "1" }, source.metadata);
      assert.ok(tarball(await readFile(out)).equals(tarball(await readFile(src))));
    });
  }

  void test("a package without BUILD_ID gets one; in place works; no temporary file is left", async () => {
    const src = await writeXpak(join(dir, "inplace"), { category: "app-misc", pf: "plain-1" });
    assert.equal((await readBinpkg(src)).buildId, undefined);
    await rewriteXpakBuildId(src, 3, src);
    assert.equal((await readBinpkg(src, { payload: true })).buildId, 3);
    await rewriteXpakBuildId(src, 4, src);
    assert.equal((await readBinpkg(src, { payload: true })).buildId, 4);
    assert.deepEqual(await readdir(join(dir, "inplace")), ["plain-1.tbz2"]);
  });

  void test("a gpkg, an id that is not a positive integer and a damaged source are refused", async () => {
    const gpkg = await writeGpkg(join(dir, "refused"), { category: "app-misc", pf: "g-1", buildId: 1 });
    await assert.rejects(
      rewriteXpakBuildId(gpkg, 2, join(dir, "refused", "o")),
      isError("invalid_argument", "gpkg"),
    );
    const src = await writeXpak(join(dir, "refused"), { category: "app-misc", pf: "x-1", buildId: 1 });
    for (const id of [0, -1, 1.5])
      await assert.rejects(
        rewriteXpakBuildId(src, id, join(dir, "refused", "o")),
        isError("invalid_argument"),
      );
    const bytes = await readFile(src);
    const cut = join(dir, "refused", "cut.xpak");
    await writeFile(cut, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(rewriteXpakBuildId(cut, 2, join(dir, "refused", "o")), isError("corrupt_artifact"));
    assert.deepEqual((await readdir(join(dir, "refused"))).sort(), [
      "cut.xpak",
      "g-1-1.gpkg.tar",
      "x-1-1.xpak",
    ]);
  });
});
