/**
 * What a collection keeps besides its cache entries (coordinator/cache/gc-roots.ts): a root
 * source's digests and logs (releases, via the one wiring point, and recent runs), against a real
 * filesystem store. Runs still running or finished within the window hold their outputs, their
 * `artifact:` inputs and their attempts' logs; an older run holds nothing; roots that cannot be
 * read remove nothing.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { releaseRoots, type RunDoc } from "../../coordinator/index.js";
import { recentRunRoots } from "../../coordinator/testing.js";
import type { Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { blobPath, collectGarbage, combineRoots, FsArtifactStore } from "../../shared/store/index.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function run(
  id: string,
  status: RunDoc["status"],
  finishedAgoMs: number,
  now: number,
  o: Digest,
  seed: Digest,
): RunDoc {
  return {
    v: 1,
    id,
    pipeline: "p",
    path: "p.yaml",
    yaml: `params:\n  seed: { required: true }\nstages:\n  build:\n    runner: shell\n    inputs:\n      seed: { artifact: "\${{ params.seed }}", path: seed.tar }\n    script: "true"\n    outputs: { out: out }\n`,
    params: { seed },
    status,
    createdAt: now - finishedAgoMs - HOUR,
    ...(status === "running" ? {} : { finishedAt: now - finishedAgoMs }),
    stages: {
      build: {
        state: status === "running" ? "running" : "failed",
        attempt: 2,
        attempts: [{ n: 1, outcome: "failed" }],
        ...(status === "running" ? {} : { outputs: { out: { digest: o, size: 1, kind: "file" } } }),
      },
    },
  };
}

void test("gc keeps what releases and recent runs name, and nothing when the roots cannot be read", async () => {
  const root = await mkdtemp(join(tmpdir(), "sf-gc-roots-"));
  const store = await FsArtifactStore.open(root);
  try {
    const now = Date.now();
    const ago = new Date(now - 2 * DAY);
    const digests: Record<string, Digest> = {};
    for (const name of [
      "released",
      "recent-out",
      "recent-seed",
      "running-seed",
      "old-out",
      "old-seed",
      "orphan",
    ]) {
      const b = await store.putBlob(Readable.from([Buffer.from(`blob ${name}`)]));
      await utimes(join(root, blobPath(b.digest)), ago, ago);
      digests[name] = b.digest;
    }
    const d = (n: string): Digest => digests[n] ?? "";
    for (const path of ["logs/recent/build/1.log", "logs/recent/build/2.log", "logs/old/build/1.log"]) {
      await store.putLog(path, "x\n");
      await utimes(join(root, path), ago, ago);
    }
    const runs = [
      run("recent", "failed", HOUR, now, d("recent-out"), d("recent-seed")),
      run("running", "running", 30 * DAY, now, d("orphan"), d("running-seed")),
      run("old", "succeeded", 8 * DAY, now, d("old-out"), d("old-seed")),
    ];
    const released = () => Promise.resolve({ digests: new Set([d("released")]), logs: new Set<string>() });

    // A root source that fails: the collection fails and removes nothing.
    const broken = combineRoots([
      released,
      () => Promise.reject(new StagefarmError("unavailable", "runs unreadable")),
    ]);
    await assert.rejects(collectGarbage(store, { dryRun: false, roots: broken }), /runs unreadable/);
    let blobs = 0;
    for await (const _ of store.listBlobs()) blobs++;
    assert.equal(blobs, 7);

    const roots = combineRoots([
      releaseRoots(store),
      released,
      recentRunRoots(
        () => Promise.resolve(runs),
        7 * DAY,
        () => now,
      ),
    ]);
    const report = await collectGarbage(store, { dryRun: false, roots, blobGraceMs: HOUR });
    assert.deepEqual(
      report.blobsRemoved.map((b) => b.digest).sort(),
      [d("old-out"), d("old-seed"), d("orphan")].sort(),
    );
    assert.equal(report.rootsKept, 4);
    assert.deepEqual(report.logsRemoved, ["logs/old/build/1.log"]);
    for (const kept of ["released", "recent-out", "recent-seed", "running-seed"])
      assert.ok(await store.statBlob(d(kept)), `${kept} kept`);
    assert.equal(await store.statBlob(d("orphan")), undefined);
  } finally {
    await store.close();
    await rm(root, { recursive: true, force: true });
  }
});
