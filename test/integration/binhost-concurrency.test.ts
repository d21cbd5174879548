/**
 * Many publishers at once: 8 agents publishing 25 packages each to one binhost (the same 25
 * CPVs, all built with BUILD_ID 1, so 175 of them must be renumbered). Every index the single
 * writer writes is observed at the store: each one parses, lists everything the previous one
 * did, and carries a strictly greater TIMESTAMP; the last one lists all 200 packages with
 * unique BUILD_IDs per CPV, each matching the package served at its PATH.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePackages, type PackagesIndex } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import type { BinhostPackageRef } from "../../shared/protocol/binhost.js";
import { BinhostBench, recordingStore, type WrittenObject } from "../helpers/binhost-harness.js";

const AGENTS = 8;
const PER_AGENT = 25;

void test("8 publishers × 25 packages at once: an index of all 200, unique BUILD_IDs, TIMESTAMP increasing with every write", async () => {
  const written: WrittenObject[] = [];
  await using bench = await BinhostBench.create({
    wrap: (s) =>
      recordingStore(
        s,
        (p) => p === "binhost/farm/Packages",
        (o) => written.push(o),
      ),
  });
  // Each agent builds the same 25 CPVs (different bytes), all claiming BUILD_ID 1.
  const uploads: BinhostPackageRef[][] = [];
  for (let a = 0; a < AGENTS; a++) {
    const refs: BinhostPackageRef[] = [];
    for (let i = 0; i < PER_AGENT; i++)
      refs.push(
        await bench.quick(
          {
            category: i % 2 === 0 ? "dev-libs" : "sys-apps",
            pf: `pkg${i}-1.${i}`,
            buildId: 1,
            files: { [`usr/share/pkg${i}/built-by`]: `agent ${a}\n` },
          },
          { stage: `p/build-${a}`, agent: `agent-${a}` },
        ),
      );
    uploads.push(refs);
  }

  const results = await Promise.all(uploads.map((refs) => bench.service.publish("farm", refs)));

  // Every request was answered with its 25 packages, none a duplicate.
  for (const r of results) {
    assert.equal(r.packages.length, PER_AGENT);
    assert.ok(r.packages.every((p) => !p.duplicate));
  }
  // Observed writes: each a valid index, a superset of the one before, TIMESTAMP strictly up.
  assert.ok(written.length >= 1 && written.length <= AGENTS, `${written.length} index writes`);
  let previous: PackagesIndex | undefined;
  for (const w of written) {
    const index = parsePackages(w.bytes.toString("utf8"), "written Packages");
    assert.equal(index.header.PACKAGES, String(index.packages.length));
    if (previous !== undefined) {
      assert.ok(Number(index.header.TIMESTAMP) > Number(previous.header.TIMESTAMP), "TIMESTAMP increases");
      const paths = new Set(index.packages.map((p) => p.PATH));
      for (const p of previous.packages) assert.ok(paths.has(p.PATH), `${p.PATH ?? "?"} lost`);
    }
    previous = index;
  }
  const final = parsePackages((await bench.indexText("farm")) ?? "");
  assert.deepEqual(final, previous, "the last observed write is the index in the store");
  assert.equal(final.packages.length, AGENTS * PER_AGENT);
  assert.equal(final.header.PACKAGES, "200");

  // Unique BUILD_IDs per CPV: exactly 1..8 for each of the 25 CPVs; unique paths.
  const byCpv = new Map<string, number[]>();
  for (const p of final.packages)
    byCpv.set(p.CPV ?? "", [...(byCpv.get(p.CPV ?? "") ?? []), Number(p.BUILD_ID)]);
  assert.equal(byCpv.size, PER_AGENT);
  for (const [cpv, ids] of byCpv)
    assert.deepEqual(
      [...ids].sort((x, y) => x - y),
      [1, 2, 3, 4, 5, 6, 7, 8],
      cpv,
    );
  assert.equal(new Set(final.packages.map((p) => p.PATH)).size, 200);
  // Each result's path is in the index, and the package there carries that BUILD_ID inside.
  const inIndex = new Map(final.packages.map((p) => [p.PATH, p]));
  for (const r of results)
    for (const p of r.packages) assert.equal(inIndex.get(p.path)?.BUILD_ID, String(p.buildId), p.path);
  for (const p of final.packages.filter((_, i) => i % 10 === 0)) {
    const info = await readBinpkg(await bench.objectToFile(`binhost/farm/${p.PATH ?? ""}`));
    assert.equal(String(info.buildId), p.BUILD_ID);
    assert.equal(info.md5, p.MD5);
  }
  // Who published what is recorded for all 200.
  const shown = await bench.service.show("farm");
  assert.equal(shown.entries.filter((e) => e.record?.agent?.startsWith("agent-") === true).length, 200);
});
