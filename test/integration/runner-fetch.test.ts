/** Pinned-source fetching and the fetch runner, against a local HTTP server and a real store. */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { pathToFileURL } from "node:url";
import { fetchToStore } from "../../agent/testing.js";
import { createFetchRunner } from "../../agent/runners/fetch/index.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { poll } from "../helpers/poll.js";

const logger = silentLogger();
const opts = (signal = new AbortController().signal) => ({ signal, logger, retryDelayMs: 10 });

void describe("fetchToStore", () => {
  let dir: string;
  let store: FsArtifactStore;
  let http: TestHttpServer;
  let n = 0;
  let path: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-fetch-"));
    http = await TestHttpServer.start();
  });
  beforeEach(async () => {
    store = await FsArtifactStore.open(join(dir, `store-${n}`));
    path = `/file-${n++}.tar`;
  });
  after(async () => {
    await http.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function storedDigests(): Promise<string[]> {
    const out: string[] = [];
    for await (const b of store.listBlobs()) out.push(b.digest);
    return out;
  }

  void test("downloads a source into the store, verified", async () => {
    const body = randomBytes(3 << 20);
    http.route(path, { status: 200, body });
    const info = await fetchToStore({ url: http.url(path), sha256: sha256(body) }, store, opts());
    assert.deepEqual({ digest: info.digest, size: info.size }, { digest: sha256(body), size: body.length });
    assert.deepEqual(await storedDigests(), [sha256(body)]);
    const back = Buffer.from(
      await (await store.getBlob(sha256(body))).toArray().then((c) => Buffer.concat(c)),
    );
    assert.ok(back.equals(body));
  });

  void test("a wrong sha256 is a digest_mismatch naming URL, expected and actual; nothing is stored", async () => {
    http.route(path, { status: 200, body: "tampered\n" });
    const expected = sha256("original\n");
    await assert.rejects(
      fetchToStore({ url: http.url(path), sha256: expected }, store, opts()),
      (e: unknown) => {
        assert.ok(e instanceof StagefarmError);
        assert.equal(e.code, "digest_mismatch");
        assert.ok(e.message.includes(http.url(path)), e.message);
        assert.ok(e.message.includes(expected), e.message);
        assert.ok(e.message.includes(sha256("tampered\n")), e.message);
        return true;
      },
    );
    assert.deepEqual(await storedDigests(), []);
    assert.equal(http.count(path), 1, "a mismatch is not retried");
  });

  void test("404 is not_found with the status, and not retried", async () => {
    http.route(path, { status: 404, body: "nope" });
    await assert.rejects(
      fetchToStore({ url: http.url(path), sha256: sha256("x") }, store, opts()),
      (e: unknown) => {
        assert.ok(e instanceof StagefarmError);
        assert.equal(e.code, "not_found");
        assert.equal(e.message, `cannot download ${http.url(path)}: HTTP 404 Not Found`);
        return true;
      },
    );
    assert.equal(http.count(path), 1);
  });

  void test("503 twice then 200 succeeds after retrying", async () => {
    http.route(path, [{ status: 503 }, { status: 503 }, { status: 200, body: "finally\n" }]);
    const info = await fetchToStore({ url: http.url(path), sha256: sha256("finally\n") }, store, opts());
    assert.equal(info.digest, sha256("finally\n"));
    assert.equal(http.count(path), 3);
  });

  void test("a download cut off mid-body is retried, and the partial bytes are not stored", async () => {
    const body = randomBytes(1 << 20);
    http.route(path, [
      { status: 200, body, cutAfter: 100_000 },
      { status: 200, body },
    ]);
    const info = await fetchToStore({ url: http.url(path), sha256: sha256(body) }, store, opts());
    assert.equal(info.digest, sha256(body));
    assert.equal(http.count(path), 2);
    assert.deepEqual(await storedDigests(), [sha256(body)]);
  });

  void test("a server that keeps failing is unavailable after 3 retries", async () => {
    http.route(path, { status: 500 });
    await assert.rejects(
      fetchToStore({ url: http.url(path), sha256: sha256("x") }, store, opts()),
      (e: unknown) => e instanceof StagefarmError && e.code === "unavailable" && /HTTP 500/.test(e.message),
    );
    assert.equal(http.count(path), 4);
  });

  void test("a refused connection is unavailable", async () => {
    const closed = await TestHttpServer.start();
    const url = closed.url("/x");
    await closed.close();
    await assert.rejects(
      fetchToStore({ url, sha256: sha256("x") }, store, { ...opts(), retries: 1 }),
      (e: unknown) => e instanceof StagefarmError && e.code === "unavailable" && e.message.includes(url),
    );
  });

  void test("abort during the retry backoff cancels promptly", async () => {
    http.route(path, { status: 503 });
    const controller = new AbortController();
    const t0 = Date.now();
    const fetching = fetchToStore({ url: http.url(path), sha256: sha256("x") }, store, {
      signal: controller.signal,
      logger,
      retryDelayMs: 60_000,
    });
    await poll(() => http.count(path) > 0, { timeoutMs: 5000, what: "the first request" });
    controller.abort();
    await assert.rejects(fetching, (e: unknown) => e instanceof StagefarmError && e.code === "cancelled");
    assert.ok(Date.now() - t0 < 5000);
  });

  void test("file:// sources are stored, verified", async () => {
    const file = join(dir, `local-${n}.txt`);
    await writeFile(file, "local bytes\n");
    const url = pathToFileURL(file).href;
    const info = await fetchToStore({ url, sha256: sha256("local bytes\n") }, store, opts());
    assert.equal(info.digest, sha256("local bytes\n"));
    assert.equal(await text(await store.getBlob(info.digest)), "local bytes\n");
    await assert.rejects(
      fetchToStore({ url, sha256: sha256("other") }, store, opts()),
      (e: unknown) =>
        e instanceof StagefarmError &&
        e.code === "digest_mismatch" &&
        e.message.includes(sha256("local bytes\n")),
    );
  });

  void test("a blob already in the store is not downloaded again", async () => {
    http.route(path, { status: 200, body: "cached\n" });
    await store.putBlob(Readable.from([Buffer.from("cached\n")]));
    const info = await fetchToStore({ url: http.url(path), sha256: sha256("cached\n") }, store, opts());
    assert.equal(info.digest, sha256("cached\n"));
    assert.equal(http.count(path), 0);
  });

  void test("the fetch runner stores every source as a file output", async () => {
    http.route(`${path}.a`, { status: 200, body: "aaa" });
    http.route(`${path}.b`, { status: 200, body: "bbbb" });
    const stage: ResolvedStage = {
      pipeline: "test",
      name: "distfiles",
      runner: "fetch",
      requires: [],
      inputs: [],
      outputs: [],
      env: {},
      sources: [
        { name: "a", source: { url: http.url(`${path}.a`), sha256: sha256("aaa") } },
        { name: "b", source: { url: http.url(`${path}.b`), sha256: sha256("bbbb") } },
      ],
      with: {},
      timeoutMs: 60_000,
      retries: 0,
      clampMtime: true,
      platform: "linux/x86_64",
      paramsUsed: [],
    };
    const logged: string[] = [];
    const result = await createFetchRunner().run({
      stage,
      workspace: dir,
      store,
      signal: new AbortController().signal,
      log: { write: (c) => logged.push(String(c)) },
      logger,
      jobs: 1,
    });
    assert.deepEqual(result.stored, {
      a: { digest: sha256("aaa"), size: 3, kind: "file" },
      b: { digest: sha256("bbbb"), size: 4, kind: "file" },
    });
    assert.match(logged.join(""), /fetching http:\/\/127\.0\.0\.1:\d+\/file-\d+\.tar\.a/);
  });
});
