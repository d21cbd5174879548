/**
 * Binhost gc: keeps the newest N builds per CPV and USE; a dry run reports exactly what the
 * real gc then removes (index entries first, then objects), and package files no index entry
 * names are collected after the grace period.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePackages } from "../../shared/binhost/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";

async function objects(bench: BinhostBench): Promise<string[]> {
  const out: string[] = [];
  for await (const o of bench.fsStore.listObjects("binhost/h/")) out.push(o.path);
  return out;
}

void test("gc --keep N per CPV and USE: the dry run reports exactly what the gc removes", async () => {
  await using bench = await BinhostBench.create({ orphanGraceMs: 0 });
  const build = (pf: string, use: string, buildTime: number, n: number) =>
    bench.quick({
      category: "dev-libs",
      pf,
      buildId: 1,
      buildTime,
      metadata: { USE: use },
      files: { [`usr/share/${pf}/n`]: String(n) },
    });
  // libfoo with USE "a b": four builds (BUILD_TIME 100…400); with USE "a": one, older than all.
  // libbar: two builds at the same BUILD_TIME (the higher BUILD_ID is the newer).
  await bench.service.publish("h", [
    await build("libfoo-1.0", "a b", 200, 1),
    await build("libfoo-1.0", "b a", 100, 2),
  ]);
  await bench.service.publish("h", [
    await build("libfoo-1.0", "a b", 400, 3),
    await build("libfoo-1.0", "a b", 300, 4),
  ]);
  await bench.service.publish("h", [await build("libfoo-1.0", "a", 50, 5)]);
  await bench.service.publish("h", [
    await build("libbar-2.0", "x", 100, 6),
    await build("libbar-2.0", "x", 100, 7),
  ]);
  // A package file the index does not name (a failed write, an old leftover).
  await bench.fsStore.putObject("binhost/h/dev-libs/libold/libold-1-1.gpkg.tar", Buffer.from("stale"));

  const indexBefore = await bench.indexText("h");
  const objectsBefore = await objects(bench);
  const dry = await bench.service.gc("h", { keep: 1, dryRun: true });
  assert.deepEqual(
    dry.removed.map((c) => [c.path, c.buildTime]),
    [
      ["dev-libs/libbar/libbar-2.0-1.gpkg.tar", 100],
      ["dev-libs/libfoo/libfoo-1.0-1.gpkg.tar", 200],
      ["dev-libs/libfoo/libfoo-1.0-2.gpkg.tar", 100],
      ["dev-libs/libfoo/libfoo-1.0-4.gpkg.tar", 300],
    ],
  );
  assert.deepEqual(dry.orphans, ["dev-libs/libold/libold-1-1.gpkg.tar"]);
  assert.equal(dry.kept, 3);
  assert.equal(await bench.indexText("h"), indexBefore, "a dry run writes nothing");
  assert.deepEqual(await objects(bench), objectsBefore, "a dry run deletes nothing");

  const real = await bench.service.gc("h", { keep: 1, dryRun: false });
  assert.deepEqual(real.removed, dry.removed);
  assert.deepEqual(real.orphans, dry.orphans);
  assert.equal(real.bytesFreed, dry.bytesFreed);
  const index = parsePackages((await bench.indexText("h")) ?? "");
  assert.deepEqual(index.packages.map((p) => p.PATH).sort(), [
    "dev-libs/libbar/libbar-2.0-2.gpkg.tar",
    "dev-libs/libfoo/libfoo-1.0-3.gpkg.tar",
    "dev-libs/libfoo/libfoo-1.0-5.gpkg.tar",
  ]);
  assert.ok(Number(index.header.TIMESTAMP) > Number(parsePackages(indexBefore ?? "").header.TIMESTAMP));
  const removed = new Set([
    ...dry.removed.map((c) => `binhost/h/${c.path}`),
    ...dry.orphans.map((o) => `binhost/h/${o}`),
  ]);
  assert.deepEqual(
    await objects(bench),
    objectsBefore.filter((p) => !removed.has(p)),
    "exactly the reported objects are gone",
  );
  // Nothing left to collect.
  const again = await bench.service.gc("h", { keep: 1, dryRun: true });
  assert.deepEqual([again.removed, again.orphans], [[], []]);
});

void test("gc keeps young unindexed files (a publication may be writing them) and refuses --keep 0", async () => {
  await using bench = await BinhostBench.create();
  await bench.service.publish("h", [await bench.quick({ category: "app-misc", pf: "a-1", buildId: 1 })]);
  await bench.fsStore.putObject("binhost/h/app-misc/b/b-1-1.gpkg.tar", Buffer.from("in flight"));
  const r = await bench.service.gc("h", { keep: 1, dryRun: false });
  assert.deepEqual([r.removed, r.orphans], [[], []]);
  assert.ok((await bench.fsStore.statObject("binhost/h/app-misc/b/b-1-1.gpkg.tar")) !== undefined);
  await assert.rejects(bench.service.gc("h", { keep: 0, dryRun: true }), /--keep must be a positive integer/);
  await assert.rejects(bench.service.gc("nope", { keep: 1, dryRun: true }), /no binhost "nope"/);
});
