/**
 * Managing a farm binhost (BinhostService over a real filesystem store, real GLEP 78 packages):
 * removing packages by PATH or CPV (out of the index first, then the objects), and the
 * binrepos.conf stanza from the binhost's settings.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parsePackages } from "../../shared/binhost/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { refused } from "../helpers/binhost-refusal.js";

void describe("binhost publication", () => {
  void test("rm by PATH or by CPV: out of the index first, then the objects; an unknown one is not_found", async () => {
    await using bench = await BinhostBench.create();
    const pkgs = [
      await bench.gpkg({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 1 }),
      await bench.gpkg({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 2, files: { a: "2" } }),
      await bench.gpkg({ category: "dev-libs", pf: "expat-2.6.2", buildId: 1 }),
    ];
    const first = await bench.service.publish("h", pkgs);
    const r1 = await bench.service.remove("h", "dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar");
    assert.deepEqual(r1.removed, ["dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar"]);
    assert.ok(r1.timestamp > first.timestamp);
    assert.equal(await bench.object("binhost/h/dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar"), undefined);
    const r2 = await bench.service.remove("h", "dev-libs/expat-2.6.2");
    assert.deepEqual(r2.removed, ["dev-libs/expat/expat-2.6.2-1.gpkg.tar"]);
    const index = parsePackages((await bench.indexText("h")) ?? "");
    assert.deepEqual(
      index.packages.map((p) => p.PATH),
      ["dev-libs/libsigc++/libsigc++-2.12.1-2.gpkg.tar"],
    );
    assert.equal(index.header.PACKAGES, "1");
    await refused(
      bench.service.remove("h", "dev-libs/nothing-1"),
      "not_found",
      /no package with PATH or CPV/,
    );
    await refused(bench.service.remove("nope", "x/y-1"), "not_found", /no binhost "nope"/);
    // The record of a removed package is gone as well; publishing its bytes again works.
    const expat = pkgs[2];
    assert.ok(expat !== undefined);
    const again = await bench.service.publish("h", [expat]);
    assert.equal(again.packages[0]?.duplicate, false);
  });

  void test("binreposConf: the stanza from the settings; an absent binhost is created empty", async () => {
    await using bench = await BinhostBench.create();
    const conf = await bench.service.binreposConf("farm-amd64", "http://farm.example:9464/");
    assert.equal(
      conf,
      "[farm-amd64]\npriority = 9999\nsync-uri = http://farm.example:9464/binhost/farm-amd64\nverify-signature = false\n",
    );
    const index = parsePackages((await bench.indexText("farm-amd64")) ?? "");
    assert.equal(index.header.PACKAGES, "0");
    await bench.service.configure("farm-amd64", {
      priority: 10,
      verifySignature: true,
      location: "/var/cache/farm",
    });
    assert.equal(
      await bench.service.binreposConf("farm-amd64", "https://farm.example/sf"),
      "[farm-amd64]\npriority = 10\nsync-uri = https://farm.example/sf/binhost/farm-amd64\nverify-signature = true\nlocation = /var/cache/farm\n",
    );
    await refused(bench.service.binreposConf("farm-amd64", "ftp://x"), "invalid_argument", /http/);
    await refused(bench.service.binreposConf("Bad Name", "http://x"), "invalid_argument", /binhost name/);
    await refused(
      bench.service.configure("farm-amd64", { header: { TIMESTAMP: "1" } }),
      "invalid_argument",
      /TIMESTAMP/,
    );
  });
});
