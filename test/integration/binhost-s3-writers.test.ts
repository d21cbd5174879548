/**
 * Two binhost writers on one S3 bucket (two coordinators: not supported, S3 has no lock between
 * processes). The second writer's index write lands while the first one's publication is under
 * way (between its package object and its index); the first must refuse with `conflict`
 * instead of writing an index without the second one's package.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { BinhostService } from "../../coordinator/index.js";
import { parsePackages } from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { openS3Store, type ArtifactStore } from "../../shared/store/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { startS3rver } from "../helpers/s3rver.js";

/** `store`, running `before` once in front of the first package object it writes. */
function interrupted(store: ArtifactStore, before: () => Promise<void>): ArtifactStore {
  let pending: (() => Promise<void>) | undefined = before;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "putObject")
        return async (path: string, data: Readable | Buffer | string, opts?: { signal?: AbortSignal }) => {
          const run = pending;
          if (run !== undefined && path.endsWith(".gpkg.tar")) {
            pending = undefined;
            await run();
          }
          return target.putObject(path, data, opts);
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

void test("two writers on one S3 bucket: a write over an index replaced meanwhile is refused (conflict), nothing lost", async () => {
  await using s3 = await startS3rver();
  await using bench = await BinhostBench.create();
  const cfg = { ...s3.config, bucket: `stagefarm-test-${randomBytes(6).toString("hex")}` };
  const store = await openS3Store(cfg);
  try {
    const logger = silentLogger();
    const upload = async (pf: string): Promise<{ digest: string; size: number }> => {
      const ref = await bench.quick({ category: "dev-libs", pf });
      const b = await store.putBlobFile(ref.file);
      return { digest: b.digest, size: b.size };
    };
    const a = await upload("a-1");
    const b = await upload("b-1");
    const other = new BinhostService({ store, logger });
    const first = new BinhostService({
      store: interrupted(store, async () => {
        await other.publish("farm", [b]);
      }),
      logger,
    });
    await assert.rejects(
      first.publish("farm", [a]),
      (e: unknown) => e instanceof StagefarmError && e.code === "conflict",
    );
    const cpvs = async (): Promise<string[]> => {
      const chunks: Buffer[] = [];
      for await (const c of await store.getObject("binhost/farm/Packages")) chunks.push(c as Buffer);
      return parsePackages(Buffer.concat(chunks).toString("utf8")).packages.map((p) => p.CPV ?? "");
    };
    assert.deepEqual(await cpvs(), ["dev-libs/b-1"]);
    // Alone again, the refused publication goes through.
    await first.publish("farm", [a]);
    assert.deepEqual((await cpvs()).sort(), ["dev-libs/a-1", "dev-libs/b-1"]);
    await other.close();
    await first.close();
  } finally {
    await store.close();
  }
});
