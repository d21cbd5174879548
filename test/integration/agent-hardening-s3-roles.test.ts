/**
 * S3 credentials by role: an agent writes blobs (`cas/`, through `tmp/`) and logs (`logs/`)
 * and nothing else; the coordinator alone writes action-cache manifests (`ac/`), the binhost
 * and stats. Checked three ways:
 *
 * 1. A real distributed farm in one process (Coordinator + AgentService + StageExecutor over
 *    the in-process ports): the agent's executor gets a store wrapper that records every call;
 *    a pipeline with a fetch stage, tree and file outputs, a downstream stage and a failing one
 *    runs, and the agent's writes are all under `cas/` or `logs/`, while the manifests exist
 *    (the coordinator wrote them).
 * 2. The agent's executor on a real S3 server (s3rver) behind a recording proxy, with a small
 *    part size so that single PUTs, both multipart paths, copies and temp deletes happen:
 *    every request it sent is mapped to the S3 permission it needs and must be allowed by
 *    deploy/minio/policy-agent.json; what the coordinator's store does (manifests, binhost,
 *    stats, gc) must be allowed by policy-coordinator.json and refused by the agent's.
 * 3. The policies as data: the agent's refuses every write to `ac/`, `binhost/`, `stats/`.
 *
 * s3rver enforces no policy: the verdicts come from a small evaluator of the IAM subset the
 * shipped policies use (./agent-hardening-s3-iam.ts), not from the server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { StageExecutor } from "../../agent/executor.js";
import type { RunDoc } from "../../coordinator/index.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { silentLogger } from "../../shared/log.js";
import { S3ArtifactStore } from "../../shared/store/s3-store.js";
import { blobPath, manifestPath } from "../../shared/store/layout.js";
import type {
  ArtifactStore,
  BlobInfo,
  LogInfo,
  Manifest,
  ObjectInfo,
  ObjectStat,
  PutOptions,
} from "../../shared/store/types.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { startS3rver } from "../helpers/s3rver.js";
import { job, output, pos, shellStage } from "./agent-hardening-helpers.js";
import {
  actionsOf,
  evaluate,
  loadPolicy,
  RecordingProxy,
  type Needed,
  type S3Request,
} from "./agent-hardening-s3-iam.js";

const DEPLOY = join(dirname(fileURLToPath(import.meta.url)), "../../../deploy/minio");

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

async function until<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
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
    const doc: RunDoc = await until(
      async () => {
        const d = await farm.coordinator.getRun(run.id);
        return d.status === "running" ? undefined : d;
      },
      60_000,
      "the run to finish",
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

  test("every S3 request an agent's executor sends is allowed by policy-agent.json", async () => {
    await using s3 = await startS3rver();
    await using proxy = await RecordingProxy.start(s3.port);
    const bucket = s3.config.bucket;
    const agentPolicy = await loadPolicy(join(DEPLOY, "policy-agent.json"), bucket);
    const coordPolicy = await loadPolicy(join(DEPLOY, "policy-coordinator.json"), bucket);

    // The bucket exists before agents connect (the README: the coordinator or an admin makes it).
    const admin = await S3ArtifactStore.open(s3.config);
    await admin.close();
    proxy.requests.length = 0;

    const dir = await mkdtemp(join(tmpdir(), "sf-s3-roles-"));
    const big = randomBytes(12 << 20);
    http.route("/big.bin", { status: 200, body: big });
    const store = await S3ArtifactStore.open({ ...s3.config, port: proxy.port }, { partSizeBytes: 5 << 20 });
    try {
      const executor = new StageExecutor({ store, workRoot: join(dir, "work"), logger: silentLogger() });
      const upstream = await store.putBlob(Readable.from([Buffer.from("upstream\n")]));
      const stage = shellStage(
        "build",
        [
          "mkdir -p out/tree",
          "cp inputs/big out/tree/big && head -c 13000000 /dev/urandom > out/file",
          "cat inputs/up > out/tree/up",
        ].join("\n"),
        {
          inputs: [
            {
              t: "source",
              name: "big",
              source: { url: http.url("/big.bin"), sha256: sha256(big) },
              path: "inputs/big",
              unpack: false,
              pos,
            },
            { t: "stage", name: "up", stage: "up", output: "up", path: "inputs/up", unpack: false, pos },
          ],
          outputs: [output("tree", "out/tree"), output("file", "out/file", { kind: "file" })],
        },
      );
      const signal = new AbortController().signal;
      await executor.execute(
        job(stage, { up: { digest: upstream.digest, size: upstream.size, kind: "file" } }),
        {
          signal,
          jobs: 1,
        },
      );
      await executor
        .execute(job(shellStage("broken", "echo no; exit 1")), { signal, jobs: 1 })
        .catch(() => undefined);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }

    const agentNeeds = proxy.requests.flatMap((r) => actionsOf(r).map((n) => ({ ...n, req: r })));
    const describe = (n: Needed & { req: S3Request }): string =>
      `${n.action} on ${n.resource} (${n.req.method} ${n.req.path}?${n.req.query.toString()})`;
    const denied = agentNeeds.filter((n) => !evaluate(agentPolicy, n.action, n.resource)).map(describe);
    assert.deepEqual(denied, [], "policy-agent.json allows every request the agent made");
    const seen = new Set(agentNeeds.map((n) => n.action));
    for (const action of [
      "s3:ListBucket",
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:ListBucketMultipartUploads",
    ])
      assert.ok(seen.has(action), `the agent's run exercised ${action} (saw ${[...seen].join(", ")})`);
    assert.ok(
      proxy.requests.some((r) => r.method === "POST" && r.query.has("uploads")),
      "a multipart upload happened",
    );
    assert.ok(
      proxy.requests.some((r) => r.copySource !== undefined),
      "a server-side copy happened",
    );
    const writes = agentNeeds.filter(
      (n) =>
        n.action !== "s3:GetObject" &&
        n.action !== "s3:ListBucket" &&
        n.action !== "s3:ListBucketMultipartUploads",
    );
    const prefixOf = (arn: string): string => arn.slice(`arn:aws:s3:::${bucket}/`.length).split("/")[0] ?? "";
    assert.deepEqual(
      [...new Set(writes.map((n) => prefixOf(n.resource)))].sort(),
      ["cas", "logs", "tmp"],
      "the agent wrote under cas/, logs/ and tmp/ only",
    );

    // The coordinator's store: manifests, binhost objects, stats-like objects, gc.
    proxy.requests.length = 0;
    const coord = await S3ArtifactStore.open({ ...s3.config, port: proxy.port });
    try {
      const blob = await coord.putBlob(Readable.from([Buffer.from("out\n")]));
      const key = sha256("a cache key");
      await coord.putManifest({
        v: 1,
        key,
        pipeline: "roles",
        stage: "build",
        runner: "shell",
        outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
        createdAt: new Date().toISOString(),
        durationMs: 1,
        producer: "a1",
      });
      await coord.putObject("binhost/main/Packages", "PACKAGES: 0\n");
      for await (const m of coord.listManifests()) assert.equal(m.key, key);
      await coord.deleteManifest(key);
      await coord.deleteObject("binhost/main/Packages");
      await coord.deleteBlob(blob.digest);
      await coord.removeStaleTemp(0);
    } finally {
      await coord.close();
    }
    const coordNeeds = proxy.requests.flatMap((r) => actionsOf(r).map((n) => ({ ...n, req: r })));
    assert.deepEqual(
      coordNeeds.filter((n) => !evaluate(coordPolicy, n.action, n.resource)).map(describe),
      [],
      "policy-coordinator.json allows every request the coordinator made",
    );
    const coordinatorOnly = coordNeeds.filter(
      (n) => /\/(ac|binhost)\//.test(n.resource) && n.action !== "s3:GetObject",
    );
    assert.ok(coordinatorOnly.length >= 4);
    assert.deepEqual(
      coordinatorOnly.filter((n) => evaluate(agentPolicy, n.action, n.resource)).map(describe),
      [],
      "and policy-agent.json refuses the coordinator's manifest and binhost writes",
    );
  });

  test("policy-agent.json refuses every write to ac/, binhost/ and stats/, and bucket administration", async () => {
    const agent = await loadPolicy(join(DEPLOY, "policy-agent.json"), "stagefarm");
    const coordinator = await loadPolicy(join(DEPLOY, "policy-coordinator.json"), "stagefarm");
    const arn = (k: string): string => `arn:aws:s3:::stagefarm/${k}`;
    for (const prefix of ["ac/x.json", "binhost/main/Packages", "stats/p.json"]) {
      for (const action of ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]) {
        assert.equal(evaluate(agent, action, arn(prefix)), false, `agent ${action} ${prefix}`);
        assert.equal(evaluate(coordinator, action, arn(prefix)), true, `coordinator ${action} ${prefix}`);
      }
    }
    assert.equal(
      evaluate(agent, "s3:DeleteObject", arn(`cas/sha256/ab/${"ab".repeat(32)}`)),
      false,
      "no blob deletes",
    );
    assert.equal(evaluate(agent, "s3:DeleteObject", arn("logs/r/s/1.log")), false, "no log deletes");
    assert.equal(evaluate(agent, "s3:GetObject", arn("logs/r/s/1.log")), false, "agents do not read logs");
    assert.equal(evaluate(agent, "s3:GetObject", arn("stats/p.json")), false);
    for (const action of [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:PutBucketPolicy",
      "s3:PutLifecycleConfiguration",
    ])
      assert.equal(evaluate(agent, action, "arn:aws:s3:::stagefarm"), false, `agent ${action}`);
    assert.equal(evaluate(coordinator, "s3:DeleteBucket", "arn:aws:s3:::stagefarm"), false);
    assert.equal(evaluate(agent, "s3:GetObject", "arn:aws:s3:::other-bucket/cas/x"), false, "another bucket");
    assert.equal(evaluate(agent, "s3:GetObject", arn("ac/x.json")), true, "manifests are readable");
    assert.equal(
      evaluate(agent, "s3:GetObject", arn("binhost/main/Packages")),
      true,
      "the binhost is readable",
    );
  });
});
