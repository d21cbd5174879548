/**
 * S3 credentials by role, request by request: the agent's executor on a real S3 server (s3rver)
 * behind a recording proxy, with a small part size so that single PUTs, both multipart paths,
 * copies and temp deletes happen. Every request it sent is mapped to the S3 permission it needs
 * and must be allowed by deploy/minio/policy-agent.json, and it writes under `cas/`, `logs/` and
 * `tmp/` only; what the coordinator's store does (manifests, binhost, stats, gc) must be allowed
 * by policy-coordinator.json and its `ac/` and `binhost/` writes refused by the agent's.
 *
 * s3rver enforces no policy: the verdicts come from a small evaluator of the IAM subset the
 * shipped policies use (./agent-hardening-s3-iam.ts), not from the server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { StageExecutor } from "../../agent/index.js";
import { sha256 } from "../../shared/digest.js";
import { silentLogger } from "../../shared/log.js";
import { S3ArtifactStore } from "../../shared/store/testing.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { MINIO_DEPLOY_DIR } from "../helpers/minio-policies.js";
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

void describe("S3 credentials by role", { timeout: 180_000 }, () => {
  let http: TestHttpServer;
  before(async () => {
    http = await TestHttpServer.start();
  });
  after(async () => {
    await http.close();
  });

  test("every S3 request an agent's executor sends is allowed by policy-agent.json", async () => {
    await using s3 = await startS3rver();
    await using proxy = await RecordingProxy.start(s3.port);
    const bucket = s3.config.bucket;
    const agentPolicy = await loadPolicy(join(MINIO_DEPLOY_DIR, "policy-agent.json"), bucket);
    const coordPolicy = await loadPolicy(join(MINIO_DEPLOY_DIR, "policy-coordinator.json"), bucket);

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
});
