/**
 * The hostile-archive corpus (test/helpers/hostile-archive-corpus.ts) through forged cache
 * entries: each hostile archive is stored as a blob and an `ac/` manifest is forged naming it as
 * the cached output of an upstream stage, in the embedded farm's filesystem store (`stagefarm
 * run`) and in the S3 store of a distributed farm consumed by a real agent process (`stagefarm
 * submit`). The consuming stage fails with the case's refusal, its script never runs, and the
 * sentinel directory the hostile paths aim at is byte-for-byte as it was.
 */
import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { computeCacheKey } from "../../shared/cache-key/index.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { FsArtifactStore, openS3Store, type ArtifactStore } from "../../shared/store/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";
import { corpus, type HostileCase } from "../helpers/hostile-archive-corpus.js";
import { withFarm } from "../helpers/farm-processes.js";
import { snapshotTree, type TreeNode } from "../helpers/tar-fixtures.js";

interface Summary {
  status: string;
  results: Record<string, { state: string; error?: string; reason?: string }>;
}

/** `up` is never run (its cache entry is forged); `consume` unpacks its tree and would mark `ran`. */
function pipeline(token: string, ran: string): string {
  return `pipeline: forged
stages:
  up:
    runner: shell
    script: echo ${token} && mkdir -p out
    outputs: { tree: out }
  consume:
    runner: shell
    inputs: { t: { from: up.tree } }
    script: touch ${ran} && mkdir -p out && echo x > out/o
    outputs: { o: out/o }
`;
}

/** Stores the case's bytes and a manifest naming them as `up`'s cached tree; returns the yaml. */
async function forge(store: ArtifactStore, c: HostileCase, token: string, ran: string): Promise<string> {
  const yaml = pipeline(token, ran);
  const up = resolvePipeline(parsePipeline(yaml, "forged.yaml"), {}).find((s) => s.name === "up");
  assert.ok(up !== undefined);
  const blob = await store.putBlob(Readable.from([c.bytes]));
  await store.putManifest({
    v: 1,
    key: computeCacheKey(up, {}),
    pipeline: "forged",
    stage: "up",
    runner: "shell",
    outputs: { tree: { digest: blob.digest, size: blob.size, kind: "tree" } },
    createdAt: new Date().toISOString(),
    durationMs: 0,
    producer: "forged",
  });
  return yaml;
}

function assertRefused(s: Summary, c: HostileCase, where: string): void {
  const what = `${c.name} (${where})`;
  assert.equal(s.status, "failed", what);
  assert.equal(s.results["up"]?.state, "cached", `${what}: up is served from the forged entry`);
  assert.equal(s.results["consume"]?.state, "failed", what);
  const error = s.results["consume"]?.error ?? "";
  assert.match(error, /^stage "consume" input "t" \(from up\.tree\): /, what);
  assert.match(error, c.reason, what);
  if (c.entry !== undefined)
    assert.ok(error.includes(`entry "${excerpt(c.entry, 300)}"`), `${what}: ${error}`);
}

async function exists(path: string): Promise<boolean> {
  return await access(path).then(
    () => true,
    () => false,
  );
}

describe("hostile archives in forged cache entries", { timeout: 900_000 }, () => {
  let root: string;
  let sentinel: string;
  let before0: Map<string, TreeNode>;
  let cases: HostileCase[];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sf-forged-"));
    sentinel = join(root, "sentinel");
    await mkdir(join(sentinel, "etc"), { recursive: true });
    await writeFile(join(sentinel, "keep"), "original\n");
    await writeFile(join(sentinel, "etc/passwd"), "root:x:0:0\n");
    before0 = await snapshotTree(sentinel);
    await mkdir(join(root, "scratch"));
    cases = await corpus(sentinel, join(root, "scratch"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("embedded farm: forged manifests in the fs store", async () => {
    await using sb = await CliSandbox.create();
    const ran = join(root, "ran-embedded");
    for (const [i, c] of cases.entries()) {
      const store = await FsArtifactStore.open(join(sb.dir, "store"));
      let yaml: string;
      try {
        yaml = await forge(store, c, `e${i}`, ran);
      } finally {
        await store.close();
      }
      const file = join(sb.dir, `case-${i}.yaml`);
      await writeFile(file, yaml);
      const r = await sb.run(["run", file, "--json"]);
      assert.equal(r.code, 1, `${c.name}: ${r.stderr}`);
      assertRefused(lastJsonLine(r.stdout) as unknown as Summary, c, "fs store");
      assert.equal(await exists(ran), false, `${c.name}: the script never ran`);
      assert.deepEqual(await snapshotTree(sentinel), before0, `${c.name}: the sentinel is untouched`);
    }
  });

  test("distributed farm: forged manifests in S3, consumed by a real agent", async () => {
    const ran = join(root, "ran-distributed");
    await withFarm({ agents: [{ id: "f1" }] }, async (farm) => {
      const store = await openS3Store(farm.s3.config);
      try {
        for (const [i, c] of cases.entries()) {
          const yaml = await forge(store, c, `d${i}`, ran);
          const r = await farm.cli([
            "submit",
            await farm.writePipeline(`case-${i}.yaml`, yaml),
            "--watch",
            "--json",
          ]);
          assert.notEqual(r.code, 0, `${c.name}: ${r.stderr}`);
          assertRefused(lastJsonLine(r.stdout) as unknown as Summary, c, "S3 store");
          assert.equal(await exists(ran), false, `${c.name}: the script never ran`);
          assert.deepEqual(await snapshotTree(sentinel), before0, `${c.name}: the sentinel is untouched`);
        }
      } finally {
        await store[Symbol.asyncDispose]();
      }
    });
  });
});
