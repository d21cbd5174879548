/**
 * BUILD_IDs when publishing to a farm binhost (BinhostService over a real filesystem store, real
 * GLEP 78 packages): a taken BUILD_ID gets the next free one, rewritten inside the package; a
 * duplicate upload is a no-op reported with the path that has it; a rebuilt legacy xpak gets
 * its new BUILD_ID in the XPAK segment; a signed gpkg that would need renumbering is refused.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parsePackages } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { refused } from "../helpers/binhost-refusal.js";

void describe("binhost publication", () => {
  void test("a BUILD_ID already taken for the CPV: the next free one, rewritten inside the package", async () => {
    await using bench = await BinhostBench.create();
    const a = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 1,
      files: { "bin/sed": "one" },
    });
    const b = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 1,
      files: { "bin/sed": "two" },
    });
    const c = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 7,
      files: { "bin/sed": "three" },
    });
    await bench.service.publish("h", [a]);
    const r = await bench.service.publish("h", [b, c]);
    assert.deepEqual(
      r.packages.map((p) => [p.path, p.buildId, p.renumberedFrom]),
      [
        ["sys-apps/sed/sed-4.9-2.gpkg.tar", 2, 1],
        ["sys-apps/sed/sed-4.9-7.gpkg.tar", 7, undefined],
      ],
    );
    const info = await readBinpkg(await bench.objectToFile("binhost/h/sys-apps/sed/sed-4.9-2.gpkg.tar"));
    assert.equal(info.buildId, 2);
    assert.equal(info.metadata.BUILD_ID, "2");
    assert.equal(info.basename, "sed-4.9-2");
    const index = parsePackages((await bench.indexText("h")) ?? "");
    const entry = index.packages.find((p) => p.PATH === "sys-apps/sed/sed-4.9-2.gpkg.tar");
    assert.equal(entry?.BUILD_ID, "2");
    assert.equal(entry?.MD5, info.md5);
    assert.equal(entry?.SIZE, String(info.size));
    const rec = (await bench.service.show("h")).entries.find((e) => e.buildId === 2)?.record;
    assert.equal(rec?.renumberedFrom, 1);
    assert.equal(rec?.digest, b.digest);
    assert.equal(rec?.sha256, info.sha256);
    // A package without a BUILD_ID gets one too.
    const d = await bench.gpkg({ category: "sys-apps", pf: "sed-4.9", files: { "bin/sed": "four" } });
    const rd = await bench.service.publish("h", [d]);
    assert.deepEqual([rd.packages[0]?.buildId, rd.packages[0]?.renumberedFrom], [8, 0]);
    assert.equal(
      (await readBinpkg(await bench.objectToFile("binhost/h/sys-apps/sed/sed-4.9-8.gpkg.tar"))).buildId,
      8,
    );
  });

  void test("a duplicate upload is a no-op reported with the path that has it; the index is not rewritten", async () => {
    await using bench = await BinhostBench.create();
    const a = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 1 });
    const b = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 1, files: { x: "other" } });
    await bench.service.publish("h", [a, b]);
    const before = await bench.indexText("h");
    // Again: the original upload, and the renumbered package's bytes as a client fetched them.
    const served = await bench.upload(
      await bench.objectToFile("binhost/h/sys-apps/grep/grep-3.11-2.gpkg.tar"),
    );
    const r = await bench.service.publish("h", [a, served, a]);
    assert.deepEqual(
      r.packages.map((p) => [p.path, p.duplicate]),
      [
        ["sys-apps/grep/grep-3.11-1.gpkg.tar", true],
        ["sys-apps/grep/grep-3.11-2.gpkg.tar", true],
        ["sys-apps/grep/grep-3.11-1.gpkg.tar", true],
      ],
    );
    assert.equal(await bench.indexText("h"), before, "nothing written");
    assert.equal(r.total, 2);
    // A new package and a duplicate of it in one request: published once.
    const c = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 5, files: { x: "third" } });
    const rc = await bench.service.publish("h", [c, c]);
    assert.deepEqual(
      rc.packages.map((p) => [p.path, p.duplicate]),
      [
        ["sys-apps/grep/grep-3.11-5.gpkg.tar", false],
        ["sys-apps/grep/grep-3.11-5.gpkg.tar", true],
      ],
    );
    assert.equal(rc.total, 3);
  });

  void test("a rebuilt xpak package gets a new BUILD_ID in its XPAK segment, the tarball kept", async () => {
    await using bench = await BinhostBench.create();
    const x1 = await bench.xpak({ category: "app-misc", pf: "old-1", buildId: 1 });
    const r = await bench.service.publish("h", [x1]);
    assert.equal(r.packages[0]?.path, "app-misc/old/old-1-1.xpak");
    const x2 = await bench.xpak({ category: "app-misc", pf: "old-1", buildId: 1, files: { a: "b" } });
    // A legacy .tbz2 without any BUILD_ID gets one too.
    const x3 = await bench.xpak({ category: "app-misc", pf: "old-1", files: { a: "c" } });
    const r2 = await bench.service.publish("h", [x2, x3]);
    assert.deepEqual(
      r2.packages.map((p) => [p.path, p.buildId, p.renumberedFrom]),
      [
        ["app-misc/old/old-1-2.xpak", 2, 1],
        ["app-misc/old/old-1-3.xpak", 3, 0],
      ],
    );
    const index = parsePackages((await bench.indexText("h")) ?? "");
    for (const [ref, id] of [
      [x2, 2],
      [x3, 3],
    ] as const) {
      const served = await bench.objectToFile(`binhost/h/app-misc/old/old-1-${id}.xpak`);
      const info = await readBinpkg(served, { payload: true });
      assert.equal(info.format, "xpak");
      assert.equal(info.buildId, id);
      assert.equal(info.metadata.BUILD_ID, String(id));
      const before = await readBinpkg(ref.file);
      assert.deepEqual({ ...info.metadata, BUILD_ID: "" }, { ...before.metadata, BUILD_ID: "" });
      // The same payload: the tarball bytes before the XPAK segment are the uploaded ones.
      const [src, out] = [await readFile(ref.file), await readFile(served)];
      const tarball = (b: Buffer): Buffer => b.subarray(0, b.length - 8 - b.readUInt32BE(b.length - 8));
      assert.ok(tarball(out).equals(tarball(src)));
      const entry = index.packages.find((p) => p.PATH === `app-misc/old/old-1-${id}.xpak`);
      assert.equal(entry?.BUILD_ID, String(id));
      assert.equal(entry?.MD5, info.md5);
      assert.equal(entry?.SIZE, String(info.size));
    }
  });

  void test("a signed gpkg whose BUILD_ID is taken cannot be renumbered: refused", async () => {
    await using bench = await BinhostBench.create();
    const s1 = await bench.gpkg({ category: "app-misc", pf: "signed-1", buildId: 1, signed: true });
    await bench.service.publish("h", [s1]);
    const s2 = await bench.gpkg({
      category: "app-misc",
      pf: "signed-1",
      buildId: 1,
      signed: true,
      files: { a: "c" },
    });
    await refused(bench.service.publish("h", [s2]), "invalid_argument", /signed/);
    assert.equal(parsePackages((await bench.indexText("h")) ?? "").packages.length, 1);
  });
});
