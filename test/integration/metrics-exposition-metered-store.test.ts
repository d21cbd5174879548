/**
 * The agent's metered store (agent meteredStore over a filesystem store): it counts the bytes
 * it uploads and downloads, and passes a corrupt blob's error through without counting it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { meteredStore } from "../../agent/index.js";
import { blobPath, FsArtifactStore } from "../../shared/store/index.js";

describe("stagefarm metrics (in-process farm)", () => {
  test("the metered store counts what it moves and passes a corrupt blob's error through", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-metered-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    try {
      const moved: Array<[string, number]> = [];
      const metered = meteredStore(store, { transfer: (d, bytes) => moved.push([d, bytes]) });
      assert.equal(metered.describe, store.describe);
      const blob = await metered.putBlob(Readable.from([Buffer.alloc(70_000, 1)]));
      await metered.putLog("logs/r/s/1.log", "hello\n");
      const chunks: Buffer[] = [];
      for await (const c of await metered.getBlob(blob.digest)) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).length, 70_000);
      assert.deepEqual(moved, [
        ["upload", 70_000],
        ["upload", 6],
        ["download", 70_000],
      ]);
      await writeFile(join(store.root, blobPath(blob.digest)), Buffer.alloc(70_000, 2));
      await assert.rejects(async () => {
        for await (const _ of await metered.getBlob(blob.digest)) void _;
      }, /corrupt|does not match/i);
      assert.equal(moved.length, 3, "a failed download is not counted");
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
