/**
 * The S3 artifact store against a real S3-protocol server (s3rver in a child process): the
 * shared conformance suite, plus what only S3 has (multipart streaming with bounded memory,
 * bucket creation, retries through an outage, credentials kept out of messages, temp objects).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { Client } from "minio";
import { pino, type Logger } from "pino";
import type { S3Config } from "../../shared/config/s3-url.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { blobPath } from "../../shared/store/index.js";
import { S3ArtifactStore } from "../../shared/store/testing.js";
import { artifactStoreConformance } from "../conformance/artifact-store.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

const MiB = 1 << 20;
let s3: S3rverHandle | undefined;

before(async () => {
  s3 = await startS3rver();
});
after(async () => {
  await s3?.[Symbol.asyncDispose]();
});

function server(): S3rverHandle {
  assert.ok(s3 !== undefined, "s3rver is not running");
  return s3;
}

/** The harness's server with a fresh bucket (and optionally a key prefix). */
function freshConfig(prefix = ""): S3Config {
  return { ...server().config, bucket: `stagefarm-test-${randomBytes(6).toString("hex")}`, prefix };
}

function rawClient(cfg: S3Config): Client {
  return new Client({
    endPoint: cfg.endPoint,
    port: cfg.port,
    useSSL: cfg.useSSL,
    accessKey: cfg.accessKey,
    secretKey: cfg.secretKey,
    region: cfg.region,
  });
}

async function objectNames(cfg: S3Config, prefix: string): Promise<string[]> {
  const names: string[] = [];
  const items: AsyncIterable<unknown> = rawClient(cfg).listObjectsV2(cfg.bucket, prefix, true);
  for await (const item of items) {
    if (typeof item === "object" && item !== null && "name" in item && typeof item.name === "string")
      names.push(item.name);
  }
  return names;
}

/** Where s3rver differs from S3 (AWS, MinIO): the tests needing these are skipped, not weakened. */
const S3RVER_LIMITS = {
  nonAtomicObjectServer:
    "s3rver writes an object in place (fs.createWriteStream on the final file), so a concurrent GET can read a partial object; S3 and MinIO replace objects atomically",
};

artifactStoreConformance(
  "s3",
  async () => {
    const cfg = freshConfig();
    const store = await S3ArtifactStore.open(cfg);
    return {
      store,
      corrupt: async (digest: Digest) => {
        const client = rawClient(cfg);
        const chunks: Buffer[] = [];
        for await (const c of (await client.getObject(cfg.bucket, blobPath(digest))) as AsyncIterable<Buffer>)
          chunks.push(c);
        const changed = Buffer.concat(chunks);
        const first = changed[0];
        const bytes =
          first === undefined
            ? Buffer.from("x")
            : Buffer.concat([Buffer.from([first ^ 0xff]), changed.subarray(1)]);
        await client.putObject(cfg.bucket, blobPath(digest), bytes, bytes.length);
      },
      async [Symbol.asyncDispose]() {
        await store.close();
      },
    };
  },
  S3RVER_LIMITS,
);

/** A logger whose entries (parsed JSON) land in `entries`. */
function capturingLogger(): { logger: Logger; entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n"))
        if (line.trim() !== "") entries.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), entries };
}

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

/** Everything an error shows (message, details, properties, causes), to look for leaked secrets. */
function everythingShown(err: unknown): string {
  return inspect(err, { depth: 10, showHidden: true });
}

/** `count` MiB of varied bytes (rotations of one block), as views of the block: the source
 *  allocates nothing, so memory growth during an upload is the store's own. */
function* lazyChunks(block: Buffer, count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) {
    const at = (i * 4099) % block.length;
    yield block.subarray(at);
    if (at > 0) yield block.subarray(0, at);
  }
}

function digestOfChunks(block: Buffer, count: number): Digest {
  const h = createHash("sha256");
  for (const c of lazyChunks(block, count)) h.update(c);
  return h.digest("hex");
}

void describe("S3ArtifactStore on s3rver", () => {
  void test("a 200 MiB stream of unknown length uploads as multipart with bounded memory", async () => {
    const { logger, entries } = capturingLogger();
    await using store = await S3ArtifactStore.open(freshConfig(), { logger });
    const block = randomBytes(MiB);
    const expected = digestOfChunks(block, 200);
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
    try {
      const info = await store.putBlob(Readable.from(lazyChunks(block, 200)), { expected });
      assert.deepEqual({ digest: info.digest, size: info.size }, { digest: expected, size: 200 * MiB });
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (peak - baseline) / MiB;
    assert.ok(growthMiB < 100, `RSS grew by ${growthMiB.toFixed(0)} MiB while uploading 200 MiB`);
    const done = entries.find((e) => e.msg === "multipart upload complete");
    assert.ok(done !== undefined, "the upload was a multipart upload");
    assert.equal(done.size, 200 * MiB);
    assert.ok(typeof done.parts === "number" && done.parts >= 2, `parts: ${String(done.parts)}`);
    assert.equal((await store.statBlob(expected))?.size, 200 * MiB);
    assert.deepEqual(await store.verifyBlob(expected), { digest: expected, size: 200 * MiB });
  });

  void test("putBlobFile of a file larger than a part goes through minio's multipart upload", async () => {
    const scratch = await mkdtemp(join(tmpdir(), "sf-s3-"));
    try {
      await using store = await S3ArtifactStore.open(freshConfig(), { partSizeBytes: 5 * MiB });
      const file = join(scratch, "big.bin");
      const content = randomBytes(12 * MiB + 123);
      await writeFile(file, content);
      const info = await store.putBlobFile(file, { expected: sha256(content) });
      assert.deepEqual(info, { digest: sha256(content), size: content.length });
      const dest = join(scratch, "back.bin");
      await store.getBlobToFile(info.digest, dest);
      assert.deepEqual(await readdir(scratch), ["back.bin", "big.bin"]);
      assert.deepEqual(await store.verifyBlob(info.digest), info);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  void test("the bucket is created when absent, and an existing one is used as is", async () => {
    const cfg = freshConfig();
    assert.equal(await rawClient(cfg).bucketExists(cfg.bucket), false);
    const first = await S3ArtifactStore.open(cfg);
    const { digest } = await first.putBlob(Readable.from([Buffer.from("kept")]));
    await first.close();
    await first.close(); // idempotent
    assert.equal(await rawClient(cfg).bucketExists(cfg.bucket), true);
    await using second = await S3ArtifactStore.open(cfg);
    assert.equal((await second.statBlob(digest))?.size, 4);
    await assert.rejects(first.statBlob(digest), isError("internal", "closed"));
  });

  void test("a key prefix places every object under it", async () => {
    const cfg = freshConfig("farm/one");
    await using store = await S3ArtifactStore.open(cfg);
    assert.equal(store.describe, `s3://127.0.0.1:${cfg.port}/${cfg.bucket}/farm/one`);
    const { digest } = await store.putBlob(Readable.from([Buffer.from("prefixed")]));
    await store.putLog("logs/r/s/1.log", "log\n");
    assert.deepEqual((await objectNames(cfg, "")).sort(), [
      `farm/one/${blobPath(digest)}`,
      "farm/one/logs/r/s/1.log",
    ]);
    const blobs: string[] = [];
    for await (const b of store.listBlobs()) blobs.push(b.digest);
    assert.deepEqual(blobs, [digest]);
    const logs: string[] = [];
    for await (const l of store.listLogs()) logs.push(l.path);
    assert.deepEqual(logs, ["logs/r/s/1.log"]);
  });

  void test("binhost objects are S3 objects at their paths: '+' kept, the key prefix applied", async () => {
    const cfg = freshConfig("farm/one");
    await using store = await S3ArtifactStore.open(cfg);
    const path = "binhost/main/dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar";
    const bytes = randomBytes(2048);
    await store.putObject(path, bytes);
    await store.putObject("binhost/main/Packages", "VERSION: 0\n\n");
    const raw = rawClient(cfg);
    assert.equal((await raw.statObject(cfg.bucket, `farm/one/${path}`)).size, bytes.length);
    assert.equal((await raw.statObject(cfg.bucket, "farm/one/binhost/main/Packages")).size, 12);
    const listed: string[] = [];
    for await (const o of store.listObjects("binhost/main/P")) listed.push(o.path);
    assert.deepEqual(listed, ["binhost/main/Packages"]);
  });

  void test("presigned object URLs serve the object to a plain HTTP GET, '+' included", async () => {
    await using store = await S3ArtifactStore.open(freshConfig());
    const path = "binhost/main/dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar";
    const bytes = randomBytes(4096);
    await store.putObject(path, bytes);
    const url = await store.presignObject(path, 600);
    assert.match(url, /X-Amz-Expires=600/);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    const missing = await fetch(await store.presignObject("binhost/main/absent.gpkg.tar", 60));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    for (const bad of [0, -1, 1.5, 7 * 24 * 3600 + 1])
      await assert.rejects(
        store.presignObject(path, bad),
        isError("invalid_argument", "expiry"),
        String(bad),
      );
    await assert.rejects(store.presignObject("logs/x", 60), isError("invalid_argument"));
  });

  void test("digest mismatches and failed streams leave no temp objects and no open uploads", async () => {
    const cfg = freshConfig();
    await using store = await S3ArtifactStore.open(cfg, { partSizeBytes: 5 * MiB });
    const wrong = sha256("not this");
    await assert.rejects(
      store.putBlob(Readable.from([Buffer.from("small")]), { expected: wrong }),
      isError("digest_mismatch", wrong),
    );
    const block = randomBytes(MiB);
    await assert.rejects(
      store.putBlob(Readable.from(lazyChunks(block, 12)), { expected: wrong }),
      isError("digest_mismatch", wrong),
    );
    // A source that fails after two parts were uploaded: the multipart upload is aborted.
    const failing = Readable.from(
      (function* () {
        yield* lazyChunks(block, 11);
        throw new Error("the producer died");
      })(),
    );
    await assert.rejects(store.putBlob(failing), /the producer died/);
    assert.deepEqual(await objectNames(cfg, ""), []);
    const uploads = join(server().dir, cfg.bucket, "._S3rver_uploads");
    assert.deepEqual(await readdir(uploads).catch(() => []), []);
  });

  void test("removeStaleTemp removes old temp objects only", async () => {
    const cfg = freshConfig();
    await using store = await S3ArtifactStore.open(cfg);
    await rawClient(cfg).putObject(cfg.bucket, "tmp/leftover", Buffer.from("x"), 1);
    assert.deepEqual(await store.removeStaleTemp(3_600_000), []);
    assert.deepEqual(await store.removeStaleTemp(0), ["tmp/leftover"]);
    assert.deepEqual(await objectNames(cfg, "tmp/"), []);
  });

  void test("refused credentials fail at once with invalid_argument, without the secret", async () => {
    const cfg = { ...freshConfig(), accessKey: "nobody" };
    const { logger, entries } = capturingLogger();
    const err = await S3ArtifactStore.open(cfg, { logger, retries: 5, retryBaseMs: 1000 }).then(
      () => assert.fail("open should fail"),
      (e: unknown) => e,
    );
    assert.ok(isError("invalid_argument", "refused the credentials", cfg.bucket)(err));
    assert.ok(!everythingShown(err).includes(cfg.secretKey), "the secret leaked into the error");
    assert.equal(entries.filter((e) => e.msg === "S3 request failed, retrying").length, 0, "no retries");
  });
});

// Outage tests stop and restart the server, so they run last, each with its own server.
void describe("S3ArtifactStore through outages", () => {
  void test("a put started while the server is down succeeds once it is back", async () => {
    await using own = await startS3rver();
    const { logger, entries } = capturingLogger();
    await using store = await S3ArtifactStore.open(own.config, { logger, retries: 10, retryBaseMs: 100 });
    await store.putBlob(Readable.from([Buffer.from("before the outage")]));
    await own.stop();
    const content = randomBytes(64 * 1024);
    const pending = store.putBlob(Readable.from([content]), { expected: sha256(content) });
    await poll(() => entries.some((e) => e.msg === "S3 request failed, retrying"), {
      timeoutMs: 10_000,
      what: "a failed attempt",
    });
    await own.restart();
    const info = await pending;
    assert.equal(info.digest, sha256(content));
    const back: Buffer[] = [];
    for await (const c of (await store.getBlob(info.digest)) as AsyncIterable<Buffer>) back.push(c);
    assert.deepEqual(Buffer.concat(back), content);
    const retry = entries.find((e) => e.msg === "S3 request failed, retrying");
    assert.ok(retry !== undefined && String(retry.error).length > 0);
    assert.ok(!JSON.stringify(entries).includes(own.config.secretKey), "the secret leaked into the logs");
  });

  void test("the harness says why s3rver cannot start", async () => {
    await using own = await startS3rver();
    await own.stop();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(own.port, "127.0.0.1", () => resolve()));
    try {
      await assert.rejects(own.restart(), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, new RegExp(`cannot start s3rver on 127\\.0\\.0\\.1:${own.port}`));
        assert.match(err.message, /EADDRINUSE/);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  void test("with the server gone, requests fail with unavailable after the retries", async () => {
    await using own = await startS3rver();
    const { logger, entries } = capturingLogger();
    await using store = await S3ArtifactStore.open(own.config, { logger, retries: 2, retryBaseMs: 10 });
    const { digest } = await store.putBlob(Readable.from([Buffer.from("stored")]));
    await own.stop();
    const secret = own.config.secretKey;
    for (const op of [
      () => store.putBlob(Readable.from([Buffer.from("lost")])),
      () => store.statBlob(digest),
      () => store.getBlob(digest),
    ]) {
      const err = await op().then(
        () => assert.fail("the operation should fail"),
        (e: unknown) => e,
      );
      assert.ok(
        isError("unavailable", store.describe, "is unavailable after 3 attempts", "ECONNREFUSED")(err),
      );
      assert.ok(!everythingShown(err).includes(secret), `the secret leaked: ${everythingShown(err)}`);
    }
    assert.equal(entries.filter((e) => e.msg === "S3 request failed, retrying").length, 6);
    const opening = S3ArtifactStore.open(own.config, { retries: 1, retryBaseMs: 10 });
    await assert.rejects(opening, isError("unavailable", "opening the artifact store"));
  });
});
