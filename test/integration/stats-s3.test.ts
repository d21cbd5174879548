/**
 * Stage statistics on an S3 store (s3rver): the records are objects `stats/<pipeline>.json`,
 * concurrent run endings in one coordinator all count, and `stagefarm stats`'s loader reads
 * them back with hit ratios — the same as on a filesystem store.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadStatsReports } from "../../coordinator/index.js";
import { statsStoreFor, ObjectStatsStore } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { S3ArtifactStore } from "../../shared/store/testing.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";

const KEY = (i: number): string => i.toString(16).padStart(64, "0");

void describe("stage statistics in an S3 store", () => {
  let s3: S3rverHandle;
  let store: S3ArtifactStore;

  before(async () => {
    s3 = await startS3rver();
    store = await S3ArtifactStore.open(s3.config);
  });
  after(async () => {
    await store.close();
    await s3[Symbol.asyncDispose]();
  });

  void test("records are objects under stats/; concurrent runs all count", async () => {
    const stats = statsStoreFor(store);
    assert.ok(stats instanceof ObjectStatsStore);
    const started = new Date();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        stats.addRun(
          "gentoo-bootstrap",
          i < 3
            ? [{ stage: "world", t: "done", key: KEY(i + 1), ms: (i + 1) * 60_000 }]
            : [{ stage: "world", t: "cached" }],
          started,
        ),
      ),
    );
    const rec = await stats.read("gentoo-bootstrap");
    assert.equal(rec?.runs, 12);
    const listed = [];
    for await (const o of store.listObjects("stats/")) listed.push(o.path);
    assert.deepEqual(listed, ["stats/gentoo-bootstrap.json"]);
    const [report] = await loadStatsReports(store, "gentoo-bootstrap");
    const world = report?.stages.find((r) => r.stage === "world");
    assert.equal(world?.executions, 3);
    assert.equal(world?.hits, 9);
    assert.equal(world?.p50Ms, 120_000);
  });

  void test("a stats path outside stats/<file> is refused", async () => {
    await assert.rejects(
      store.putObject("stats/a/b.json", "{}"),
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument",
    );
    await assert.rejects(
      store.putObject("statsx/a.json", "{}"),
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument",
    );
  });
});
