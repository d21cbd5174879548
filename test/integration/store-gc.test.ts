/**
 * Garbage collection against a real filesystem store: ages are set on the files with utimes,
 * manifests carry their own createdAt.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { sha256, type Digest } from "../../shared/digest.js";
import { blobPath, collectGarbage, FsArtifactStore, type Manifest } from "../../shared/store/index.js";
import { type GcReport } from "../../shared/store/testing.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function sorted(r: GcReport): GcReport {
  return {
    ...r,
    manifestsRemoved: [...r.manifestsRemoved].sort(),
    blobsRemoved: [...r.blobsRemoved].sort((a, b) => a.digest.localeCompare(b.digest)),
    logsRemoved: [...r.logsRemoved].sort(),
  };
}

void describe("collectGarbage on a filesystem store", () => {
  let root = "";
  let store: FsArtifactStore;
  const now = new Date();
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const blobs: Record<string, { digest: Digest; size: number }> = {};
  const keys: Record<string, Digest> = {};

  async function blob(name: string, ageMs: number): Promise<{ digest: Digest; size: number }> {
    const info = await store.putBlob(Readable.from([Buffer.from(`blob ${name} `.repeat(10))]));
    await utimes(join(root, blobPath(info.digest)), ago(ageMs), ago(ageMs));
    blobs[name] = { digest: info.digest, size: info.size };
    return blobs[name];
  }
  async function log(path: string, ageMs: number): Promise<void> {
    await store.putLog(path, `log ${path}\n`);
    await utimes(join(root, path), ago(ageMs), ago(ageMs));
  }
  async function manifest(name: string, ageMs: number, outs: string[], logPath?: string): Promise<void> {
    const outputs: Manifest["outputs"] = {};
    for (const o of outs) {
      const b = blobs[o];
      assert.ok(b !== undefined);
      outputs[o] = { ...b, kind: "file" };
    }
    const key = sha256(`key ${name}`);
    keys[name] = key;
    const m: Manifest = {
      v: 1,
      key,
      pipeline: "p",
      stage: name,
      runner: "shell",
      outputs,
      createdAt: ago(ageMs).toISOString(),
      durationMs: 1,
      producer: "local",
      ...(logPath === undefined ? {} : { log: logPath }),
    };
    assert.equal(await store.putManifest(m), true);
  }
  const present = async () => ({
    blobs: (await collect(store.listBlobs())).map((b) => b.digest).sort(),
    manifests: (await collect(store.listManifests())).map((m) => m.stage).sort(),
    logs: (await collect(store.listLogs())).map((l) => l.path).sort(),
  });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sf-gc-"));
    store = await FsArtifactStore.open(root);
    await blob("fresh-out", 10 * DAY);
    await blob("old-out", 10 * DAY);
    await blob("shared-out", 10 * DAY);
    await blob("pinned-out", 10 * DAY);
    await blob("orphan-old", 2 * HOUR);
    await blob("orphan-young", 5 * 60_000);
    await log("logs/r1/fresh/1.log", 10 * DAY);
    await log("logs/r0/old/1.log", 10 * DAY);
    await log("logs/r0/failed/1.log", 10 * DAY);
    await log("logs/r2/failed/1.log", HOUR / 2);
    await manifest("fresh", DAY, ["fresh-out", "shared-out"], "logs/r1/fresh/1.log");
    await manifest("old", 10 * DAY, ["old-out", "shared-out"], "logs/r0/old/1.log");
    await manifest("pinned", 10 * DAY, ["pinned-out"]);
  });
  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  const opts = {
    maxManifestAgeMs: 7 * DAY,
    blobGraceMs: HOUR,
    now,
    keep: (m: Manifest) => m.stage === "pinned",
  };

  void test("a dry run reports what a real run removes, and removes nothing", async () => {
    const state = await present();
    const dry = sorted(await collectGarbage(store, { ...opts, dryRun: true }));
    const removedBlobs = ["old-out", "orphan-old"].map((n) => blobs[n]).filter((b) => b !== undefined);
    assert.deepEqual(dry, {
      manifestsKept: 2,
      manifestsRemoved: [keys.old],
      blobsRemoved: removedBlobs.sort((a, b) => a.digest.localeCompare(b.digest)),
      bytesFreed: removedBlobs.reduce((n, b) => n + b.size, 0),
      logsRemoved: ["logs/r0/failed/1.log", "logs/r0/old/1.log"],
      rootsKept: 0,
    });
    assert.deepEqual(await present(), state);

    const real = sorted(await collectGarbage(store, { ...opts, dryRun: false }));
    assert.deepEqual(real, dry);
    const after = await present();
    assert.deepEqual(after.manifests, ["fresh", "pinned"]);
    assert.deepEqual(
      after.blobs,
      ["fresh-out", "shared-out", "pinned-out", "orphan-young"].map((n) => blobs[n]?.digest).sort(),
    );
    assert.deepEqual(after.logs, ["logs/r1/fresh/1.log", "logs/r2/failed/1.log"]);
    for (const d of after.blobs) await store.verifyBlob(d);
  });

  void test("a second run finds nothing; without a manifest age no manifest is removed", async () => {
    const again = await collectGarbage(store, { ...opts, dryRun: false });
    assert.deepEqual(again, {
      manifestsKept: 2,
      manifestsRemoved: [],
      blobsRemoved: [],
      bytesFreed: 0,
      logsRemoved: [],
      rootsKept: 0,
    });
    const later = new Date(now.getTime() + 365 * DAY);
    const noAge = await collectGarbage(store, { dryRun: false, now: later });
    assert.equal(noAge.manifestsKept, 2);
    assert.deepEqual(noAge.manifestsRemoved, []);
    assert.deepEqual(
      noAge.blobsRemoved.map((b) => b.digest),
      [blobs["orphan-young"]?.digest],
    );
    assert.deepEqual(noAge.logsRemoved, ["logs/r2/failed/1.log"]);
  });
});
