/**
 * Bad packages published to a farm binhost (BinhostService over a real filesystem store, real
 * GLEP 78 packages): a Manifest that does not match, a truncated file, something that is no
 * binary package, missing CATEGORY, PF or SLOT, a digest not in the store. Each is refused with a
 * clear error, all or nothing, and the index and objects stay as they were.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { refused } from "../helpers/binhost-refusal.js";
import { flipByte, memberDataOffset, writeGpkg } from "../helpers/gpkg-writer.js";

/** Object paths under binhost/<name>/ (to show nothing was written). */
async function objects(bench: BinhostBench, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of bench.fsStore.listObjects(`binhost/${name}/`)) out.push(o.path);
  return out;
}

void describe("binhost publication", () => {
  void test("a Manifest that does not match (wrong size, wrong hash) is refused, the index untouched", async () => {
    await using bench = await BinhostBench.create();
    await bench.service.publish("h", [await bench.gpkg({ category: "app-misc", pf: "ok-1", buildId: 1 })]);
    const before = await bench.indexText("h");
    const objs = await objects(bench, "h");

    const wrongSize = await bench.gpkg({
      category: "app-misc",
      pf: "bad-1",
      buildId: 1,
      manifest: (t) =>
        t.replace(/^(DATA image\.tar\.zst) (\d+)/m, (_m, a: string, n: string) => `${a} ${Number(n) + 1}`),
    });
    const e1 = await refused(
      bench.service.publish("h", [wrongSize]),
      "corrupt_artifact",
      /binhost "h": package sha256:[0-9a-f]{12}/,
    );
    assert.match(e1.message, /image\.tar\.zst/);

    const flipped = await writeGpkg(bench.pkgDir(), { category: "app-misc", pf: "bad-2", buildId: 1 });
    const { offset } = await memberDataOffset(flipped, "image.tar.zst");
    await flipByte(flipped, offset + 10);
    await refused(
      bench.service.publish("h", [await bench.upload(flipped)]),
      "corrupt_artifact",
      /image\.tar\.zst/,
    );

    assert.equal(await bench.indexText("h"), before);
    assert.deepEqual(await objects(bench, "h"), objs);
  });

  void test("truncated, not a binary package, no CATEGORY, no PF: refused with a clear error, the index untouched", async () => {
    await using bench = await BinhostBench.create();
    await bench.service.publish("h", [await bench.gpkg({ category: "app-misc", pf: "ok-1", buildId: 1 })]);
    const before = await bench.indexText("h");
    const objs = await objects(bench, "h");

    // Cut inside the last member (the tar's zero padding alone would still be a whole package).
    const whole = (await bench.gpkg({ category: "app-misc", pf: "cut-1", buildId: 1 })).file;
    const { offset } = await memberDataOffset(whole, "Manifest");
    const cut = await readFile(whole);
    await refused(
      bench.service.publish("h", [await bench.uploadBytes(cut.subarray(0, offset + 20))]),
      "corrupt_artifact",
      /refused/,
    );

    await refused(
      bench.service.publish("h", [
        await bench.uploadBytes(Buffer.from("this is not a package\n".repeat(100))),
      ]),
      "corrupt_artifact",
      /binhost "h": package sha256:/,
    );
    const noCat = await bench.gpkg({
      category: "app-misc",
      pf: "nocat-1",
      buildId: 1,
      omitKeys: ["CATEGORY"],
    });
    await refused(bench.service.publish("h", [noCat]), "invalid_argument", /CATEGORY/);
    const noPf = await bench.gpkg({ category: "app-misc", pf: "nopf-1", buildId: 1, omitKeys: ["PF"] });
    await refused(bench.service.publish("h", [noPf]), "invalid_argument", /PF/);
    const noSlot = await bench.gpkg({ category: "app-misc", pf: "noslot-1", buildId: 1, omitKeys: ["SLOT"] });
    await refused(bench.service.publish("h", [noSlot]), "invalid_argument", /SLOT/);

    // All or nothing: a good package next to a bad one is not published either.
    const good = await bench.gpkg({ category: "app-misc", pf: "good-1", buildId: 1 });
    await refused(bench.service.publish("h", [good, noCat]), "invalid_argument", /CATEGORY/);
    // Not uploaded at all.
    await refused(
      bench.service.publish("h", [{ digest: "0".repeat(64), size: 1, stage: "p/s" }]),
      "not_found",
      /not in the store.*|from stage p\/s/,
    );

    assert.equal(await bench.indexText("h"), before);
    assert.deepEqual(await objects(bench, "h"), objs);
  });
});
