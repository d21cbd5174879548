/**
 * The cache RPCs of a real Coordinator's API on a real grpc-js server (coordinator/api/cache-api.ts):
 * LookupCache answers as the engine would without changing anything (an entry whose blob is
 * gone is a miss, and stays for the engine to repair); RemoveCacheEntries is all or nothing;
 * hostile keys and durations are refused, quoted and cut; GetStats carries the recorded history.
 */
import assert from "node:assert/strict";
import { utimes } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { credentials, ServerCredentials } from "@grpc/grpc-js";
import { loadStagefarmApi } from "../../coordinator/index.js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { createGrpcClient, createGrpcServer, listen } from "../../shared/grpc/index.js";
import { silentLogger } from "../../shared/log.js";
import { blobPath, type Manifest } from "../../shared/store/index.js";
import { MemoryFarm } from "../helpers/memory-farm.js";

async function rejection(p: Promise<unknown>): Promise<StagefarmError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, `a StagefarmError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to fail");
}

void test("cache RPCs: lookup without repair, all-or-nothing removal, bounds, stats", async () => {
  await using farm = await MemoryFarm.create();
  const createStagefarmApi = await loadStagefarmApi();
  const server = createGrpcServer(
    StagefarmService,
    createStagefarmApi({
      coordinator: farm.coordinator,
      store: farm.store,
      bus: farm.bus,
      subjects: farm.subjects,
    }),
    { logger: silentLogger() },
  );
  const listener = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
  const client = createGrpcClient(StagefarmService, listener.address, credentials.createInsecure());
  try {
    const entry = async (name: string): Promise<Manifest> => {
      const b = await farm.store.putBlob(Readable.from([Buffer.from(`out ${name}`)]));
      const m: Manifest = {
        v: 1,
        key: sha256(`key ${name}`),
        pipeline: "p",
        stage: name,
        runner: "shell",
        outputs: { o: { digest: b.digest, size: b.size, kind: "file" } },
        createdAt: new Date().toISOString(),
        durationMs: 1500,
        producer: "a1",
      };
      assert.equal(await farm.store.putManifest(m), true);
      return m;
    };
    const good = await entry("good");
    const broken = await entry("broken");
    await farm.store.deleteBlob(broken.outputs["o"]?.digest ?? "");
    const absent = sha256("absent");

    const found = await client.lookupCache({ keys: [good.key, broken.key, absent, good.key] });
    assert.deepEqual(
      found.entries.map((e) => [e.key, e.stage, e.durationMs]),
      [[good.key, "good", 1500n]],
    );
    assert.ok(await farm.store.getManifest(broken.key), "a reader's lookup removes nothing");

    const hostile = await rejection(client.lookupCache({ keys: [`zz\u202e${"z".repeat(5000)}`] }));
    assert.equal(hostile.code, "invalid_argument");
    assert.ok(hostile.message.length < 300 && !hostile.message.includes("\u202e"), hostile.message);
    const many = await rejection(client.lookupCache({ keys: Array.from({ length: 1001 }, () => absent) }));
    assert.match(many.message, /1001 keys in one request; at most 1000/);

    const typo = await rejection(
      client.removeCacheEntries({ keysOrPrefixes: [good.key.slice(0, 8), "ffff0000"] }),
    );
    assert.equal(typo.code, "not_found");
    assert.ok(await farm.store.getManifest(good.key), "one typo removes nothing");
    const removed = await client.removeCacheEntries({ keysOrPrefixes: [good.key.slice(0, 8), good.key] });
    assert.deepEqual(
      removed.removed.map((e) => e.key),
      [good.key],
    );
    assert.equal(await farm.store.getManifest(good.key), undefined);

    const negative = await rejection(client.collectCache({ dryRun: true, graceMs: -1n }));
    assert.match(negative.message, /grace_ms must be between 0 and 100 years/);
    const old = new Date(Date.now() - 60_000);
    const goodBlob = join(farm.store.root, blobPath(good.outputs["o"]?.digest ?? ""));
    await utimes(goodBlob, old, old);
    const dry = await client.collectCache({ dryRun: true, graceMs: 1000n });
    assert.deepEqual(dry.removedKeys, []);
    assert.deepEqual(
      dry.removedBlobs.map((b) => b.digest),
      [good.outputs["o"]?.digest],
    );
    assert.ok(await farm.store.statBlob(good.outputs["o"]?.digest ?? ""), "a dry run removes nothing");

    const stats = await client.getStats({ pipeline: "p" });
    assert.deepEqual(
      stats.pipelines.map((p) => [
        p.pipeline,
        p.stages.map((s) => [s.stage, s.executions, s.hasDurations, s.p50Ms]),
      ]),
      [["p", [["broken", 1, true, 1500n]]]],
    );
  } finally {
    client.close();
    await listener.close(1000);
  }
});
