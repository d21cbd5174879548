/**
 * S3 credentials by role, in a real distributed farm in one process (Coordinator + AgentService
 * + StageExecutor over the in-process ports): the agent's executor gets a store wrapper that
 * records every call; a pipeline with a fetch stage, tree and file outputs, a downstream stage
 * and a failing one runs, and the agent's writes are all under `cas/` or `logs/`, while the
 * action-cache manifests (`ac/`) exist because the coordinator wrote them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { StageExecutor } from "../../agent/index.js";
import type { RunDoc } from "../../coordinator/index.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { silentLogger } from "../../shared/log.js";
import {
  blobPath,
  type ArtifactStore,
  type BlobInfo,
  type Manifest,
  type PutOptions,
} from "../../shared/store/index.js";
import { manifestPath, type LogInfo, type ObjectInfo, type ObjectStat } from "../../shared/store/testing.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { poll } from "../helpers/poll.js";

type Call = { op: "write" | "delete" | "read"; path: string };

/** Forwards every call to `inner` and records the store paths written, deleted and read. */
class RecordingStore implements ArtifactStore {
  readonly calls: Call[] = [];
  constructor(readonly inner: ArtifactStore) {}
  get describe(): string {
    return `recording(${this.inner.describe})`;
  }
  #r<T>(op: Call["op"], path: string, v: T): T {
    this.calls.push({ op, path });
    return v;
  }
  async statBlob(d: Digest) {
    return this.#r("read", blobPath(d), await this.inner.statBlob(d));
  }
  async putBlob(data: Readable, opts?: PutOptions): Promise<BlobInfo> {
    const b = await this.inner.putBlob(data, opts);
    return this.#r("write", blobPath(b.digest), b);
  }
  async putBlobFile(path: string, opts?: PutOptions): Promise<BlobInfo> {
    const b = await this.inner.putBlobFile(path, opts);
    return this.#r("write", blobPath(b.digest), b);
  }
  async getBlob(d: Digest, signal?: AbortSignal) {
    return this.#r("read", blobPath(d), await this.inner.getBlob(d, signal));
  }
  async getBlobToFile(d: Digest, dest: string, signal?: AbortSignal) {
    return this.#r("read", blobPath(d), await this.inner.getBlobToFile(d, dest, signal));
  }
  async verifyBlob(d: Digest, signal?: AbortSignal) {
    return this.#r("read", blobPath(d), await this.inner.verifyBlob(d, signal));
  }
  listBlobs(): AsyncIterable<BlobInfo> {
    return this.#r("read", "cas/", this.inner.listBlobs());
  }
  async deleteBlob(d: Digest) {
    this.#r("delete", blobPath(d), undefined);
    await this.inner.deleteBlob(d);
  }
  async getManifest(key: Digest) {
    return this.#r("read", manifestPath(key), await this.inner.getManifest(key));
  }
  async putManifest(m: Manifest) {
    this.#r("write", manifestPath(m.key), undefined);
    return await this.inner.putManifest(m);
  }
  listManifests(): AsyncIterable<Manifest> {
    return this.#r("read", "ac/", this.inner.listManifests());
  }
  async deleteManifest(key: Digest) {
    this.#r("delete", manifestPath(key), undefined);
    await this.inner.deleteManifest(key);
  }
  async putLog(path: string, data: Readable | string) {
    this.#r("write", path, undefined);
    await this.inner.putLog(path, data);
  }
  async getLog(path: string) {
    return this.#r("read", path, await this.inner.getLog(path));
  }
  listLogs(prefix?: string): AsyncIterable<LogInfo> {
    return this.#r("read", prefix ?? "logs/", this.inner.listLogs(prefix));
  }
  async deleteLog(path: string) {
    this.#r("delete", path, undefined);
    await this.inner.deleteLog(path);
  }
  async putObject(
    path: string,
    data: Readable | Buffer | string,
    opts?: { signal?: AbortSignal },
  ): Promise<ObjectStat> {
    this.#r("write", path, undefined);
    return await this.inner.putObject(path, data, opts);
  }
  async getObject(path: string, opts?: { signal?: AbortSignal }) {
    return this.#r("read", path, await this.inner.getObject(path, opts));
  }
  async statObject(path: string) {
    return this.#r("read", path, await this.inner.statObject(path));
  }
  async deleteObject(path: string) {
    this.#r("delete", path, undefined);
    await this.inner.deleteObject(path);
  }
  listObjects(prefix: string): AsyncIterable<ObjectInfo> {
    return this.#r("read", prefix, this.inner.listObjects(prefix));
  }
  async close() {
    await this.inner.close();
  }
}

const PATCH = "a pinned patch\n";

void describe("S3 credentials by role", { timeout: 180_000 }, () => {
  let http: TestHttpServer;
  before(async () => {
    http = await TestHttpServer.start();
    http.route("/patch.txt", { status: 200, body: PATCH });
  });
  after(async () => {
    await http.close();
  });

  test("an agent running a pipeline in a farm writes only cas/ and logs/; the coordinator writes ac/", async () => {
    await using farm = await MemoryFarm.create();
    const recording = new RecordingStore(farm.store);
    const executor = new StageExecutor({
      store: recording,
      workRoot: join(farm.dir, "work", "recorded"),
      logger: silentLogger(),
    });
    farm.addAgent("recorded", ["x86_64"], 2, executor);
    const yaml = `pipeline: roles
stages:
  src:
    runner: fetch
    sources: { patch: { url: "${http.url("/patch.txt")}", sha256: "${sha256(PATCH)}" } }
  build:
    runner: shell
    inputs: { patch: { from: src.patch, unpack: false } }
    script: mkdir -p out/tree && cp inputs/patch out/tree/patch && echo bin > out/bin
    outputs: { tree: out/tree, bin: out/bin }
  use:
    runner: shell
    inputs: { tree: { from: build.tree } }
    script: mkdir -p out && cat inputs/tree/patch > out/x
    outputs: { x: out/x }
  broken:
    runner: shell
    script: echo failing; exit 3
`;
    const run = await farm.coordinator.submit({ yaml, path: "roles.yaml", params: {} });
    const doc: RunDoc = await poll(
      async () => {
        const d = await farm.coordinator.getRun(run.id);
        return d.status === "running" ? undefined : d;
      },
      { timeoutMs: 60_000, what: "the run to finish" },
    );
    assert.equal(doc.status, "failed");
    assert.deepEqual(Object.fromEntries(Object.entries(doc.stages).map(([n, s]) => [n, s.state])), {
      src: "done",
      build: "done",
      use: "done",
      broken: "failed",
    });

    const writes = recording.calls.filter((c) => c.op !== "read");
    const outside = writes.filter((c) => !/^(cas\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}|logs\/.+)$/.test(c.path));
    assert.deepEqual(outside, [], "the agent wrote nothing but blobs and logs");
    assert.deepEqual(
      writes.filter((c) => c.op === "delete"),
      [],
      "the agent deleted nothing",
    );
    for (const stage of ["src", "build", "use", "broken"])
      assert.ok(
        writes.some((c) => c.path.startsWith(`logs/${run.id}/${stage}/`)),
        `the agent stored the log of ${stage}`,
      );
    assert.ok(writes.filter((c) => c.path.startsWith("cas/")).length >= 4, "and the outputs");
    const manifests: Manifest[] = [];
    for await (const m of farm.store.listManifests()) manifests.push(m);
    assert.deepEqual(
      manifests.map((m) => m.stage).sort(),
      ["build", "src", "use"],
      "the coordinator wrote ac/",
    );
    assert.ok(manifests.every((m) => m.producer === "recorded"));
  });
});
