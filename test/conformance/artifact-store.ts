/**
 * The ArtifactStore conformance suite. Every implementation registers it with a factory that
 * makes a fresh, empty store, a way to corrupt a stored blob behind the store's back, and a
 * disposer removing everything the store made:
 *
 *   artifactStoreConformance("fs", async () => { ... return { store, corrupt, [Symbol.asyncDispose] } });
 *
 * Options name what the server under a store cannot do (with the reason), so that the tests
 * needing it are reported as skipped rather than made weaker.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { sha256, sha256File, type Digest } from "../../shared/digest.js";
import type { ArtifactStore, Manifest, ManifestOutput } from "../../shared/store/index.js";
import { logConformance } from "./artifact-store-logs.js";
import { objectConformance, type ObjectServerLimits } from "./artifact-store-objects.js";
import { collect, isError, readAll } from "./store-assert.js";

export interface ArtifactStoreFixture {
  store: ArtifactStore;
  /** Changes the stored bytes of `digest` (same length, different content) behind the store's back. */
  corrupt: (digest: Digest) => Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type ArtifactStoreConformanceOptions = ObjectServerLimits;

const MiB = 1 << 20;

/** `count` MiB of varied bytes, as 1 MiB chunks (each a rotation of one random block). */
function* bigChunks(block: Buffer, count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) {
    const at = (i * 4099) % block.length;
    yield Buffer.concat([block.subarray(at), block.subarray(0, at)]);
  }
}

/** A stream that yields `first` and then waits forever (until destroyed). Reports when read. */
function hangingStream(first: Buffer): { stream: Readable; read: Promise<void> } {
  let onRead: () => void = () => undefined;
  const read = new Promise<void>((resolve) => (onRead = resolve));
  let sent = false;
  const stream = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(first);
        onRead();
      }
    },
  });
  return { stream, read };
}

function manifest(
  key: Digest,
  outputs: Record<string, ManifestOutput>,
  extra: Partial<Manifest> = {},
): Manifest {
  return {
    v: 1,
    key,
    pipeline: "demo",
    stage: "build",
    runner: "shell",
    outputs,
    createdAt: new Date().toISOString(),
    durationMs: 1234,
    producer: "local",
    ...extra,
  };
}

export function artifactStoreConformance(
  name: string,
  factory: () => Promise<ArtifactStoreFixture>,
  options: ArtifactStoreConformanceOptions = {},
): void {
  async function withStore(fn: (f: ArtifactStoreFixture, scratch: string) => Promise<void>): Promise<void> {
    const scratch = await mkdtemp(join(tmpdir(), "sf-conf-"));
    try {
      const f = await factory();
      try {
        await fn(f, scratch);
      } finally {
        await f[Symbol.asyncDispose]();
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const put = (store: ArtifactStore, data: string | Buffer) =>
    store.putBlob(Readable.from([Buffer.from(data)]));

  void describe(`ArtifactStore conformance: ${name}`, () => {
    void test("small and empty blobs round-trip through put, stat, get and getBlobToFile", () =>
      withStore(async ({ store }, scratch) => {
        for (const content of [Buffer.from("hello stagefarm\n"), Buffer.alloc(0)]) {
          const info = await put(store, content);
          assert.equal(info.digest, sha256(content));
          assert.equal(info.size, content.length);
          assert.equal((await store.statBlob(info.digest))?.size, content.length);
          assert.deepEqual(await readAll(await store.getBlob(info.digest)), content);
          const dest = join(scratch, "out", `${content.length}.bin`);
          assert.deepEqual(await store.getBlobToFile(info.digest, dest), {
            digest: info.digest,
            size: content.length,
          });
          assert.deepEqual(await sha256File(dest), { digest: info.digest, size: content.length });
        }
      }));

    void test("a 20 MiB stream round-trips with the right digest", () =>
      withStore(async ({ store }, scratch) => {
        const block = randomBytes(MiB);
        const h = createHash("sha256");
        for (const c of bigChunks(block, 20)) h.update(c);
        const expected = h.digest("hex");
        const info = await store.putBlob(Readable.from(bigChunks(block, 20)), { expected });
        assert.deepEqual({ digest: info.digest, size: info.size }, { digest: expected, size: 20 * MiB });
        const back = createHash("sha256");
        let size = 0;
        for await (const c of (await store.getBlob(expected)) as AsyncIterable<Buffer>) {
          back.update(c);
          size += c.length;
        }
        assert.deepEqual({ digest: back.digest("hex"), size }, { digest: expected, size: 20 * MiB });
        const dest = join(scratch, "big.bin");
        await store.getBlobToFile(expected, dest);
        assert.deepEqual(await sha256File(dest), { digest: expected, size: 20 * MiB });
        assert.deepEqual(await store.verifyBlob(expected), { digest: expected, size: 20 * MiB });
      }));

    void test("putBlobFile stores a file and checks the expected digest", () =>
      withStore(async ({ store }, scratch) => {
        const file = join(scratch, "src.txt");
        await writeFile(file, "file contents\n");
        const info = await store.putBlobFile(file, { expected: sha256("file contents\n") });
        assert.equal(info.digest, sha256("file contents\n"));
        assert.equal((await readAll(await store.getBlob(info.digest))).toString(), "file contents\n");
        const wrong = sha256("something else");
        await writeFile(file, "changed\n");
        await assert.rejects(store.putBlobFile(file, { expected: wrong }), isError("digest_mismatch", wrong));
        assert.equal(await store.statBlob(sha256("changed\n")), undefined);
        await assert.rejects(store.putBlobFile(join(scratch, "absent")), isError("not_found"));
      }));

    void test("putting the same bytes twice is idempotent", () =>
      withStore(async ({ store }) => {
        const a = await put(store, "same bytes");
        const b = await put(store, "same bytes");
        assert.equal(a.digest, b.digest);
        assert.deepEqual(
          (await collect(store.listBlobs())).map((x) => x.digest),
          [a.digest],
        );
        assert.equal((await store.verifyBlob(a.digest)).size, "same bytes".length);
      }));

    void test("a put whose bytes do not match `expected` stores nothing", () =>
      withStore(async ({ store }) => {
        const expected = sha256("what we wanted");
        const actual = sha256("what we got");
        const data = Readable.from([Buffer.from("what we got")]);
        await assert.rejects(store.putBlob(data, { expected }), isError("digest_mismatch", expected, actual));
        assert.equal(await store.statBlob(actual), undefined);
        assert.equal(await store.statBlob(expected), undefined);
        assert.deepEqual(await collect(store.listBlobs()), []);
      }));

    void test("stat, list and delete", () =>
      withStore(async ({ store }) => {
        const infos = await Promise.all(["one", "two!", "three"].map((s) => put(store, s)));
        const listed = await collect(store.listBlobs());
        assert.deepEqual(
          listed.map((b) => `${b.digest}:${b.size}`).sort(),
          infos.map((b) => `${b.digest}:${b.size}`).sort(),
        );
        const [first, second] = infos;
        assert.ok(first !== undefined && second !== undefined);
        await store.deleteBlob(first.digest);
        assert.equal(await store.statBlob(first.digest), undefined);
        assert.equal((await store.statBlob(second.digest))?.size, 4);
        assert.equal((await collect(store.listBlobs())).length, 2);
        await store.deleteBlob(first.digest); // absent: no error
        await assert.rejects(store.statBlob("not-a-digest"), isError("invalid_argument", "not-a-digest"));
      }));

    void test("reading a missing blob is not_found and writes nothing", () =>
      withStore(async ({ store }, scratch) => {
        const missing = sha256("never stored");
        await assert.rejects(store.getBlob(missing), isError("not_found", missing));
        await assert.rejects(store.verifyBlob(missing), isError("not_found", missing));
        await assert.rejects(store.getBlobToFile(missing, join(scratch, "x")), isError("not_found", missing));
        assert.deepEqual(await readdir(scratch), []);
        assert.equal(await store.statBlob(missing), undefined);
      }));

    void test("a corrupted blob is never handed on as good", () =>
      withStore(async ({ store, corrupt }, scratch) => {
        const { digest } = await put(store, "precious bytes of a stage3 tarball");
        await corrupt(digest);
        await assert.rejects(
          readAll(await store.getBlob(digest)),
          isError("corrupt_artifact", digest, store.describe, "content hashes to"),
        );
        const dest = join(scratch, "stage3.tar");
        await assert.rejects(store.getBlobToFile(digest, dest), isError("corrupt_artifact", digest));
        assert.deepEqual(
          await readdir(scratch),
          [],
          "nothing (not even a temp file) is left at the destination",
        );
        await assert.rejects(store.verifyBlob(digest), isError("corrupt_artifact", digest));
      }));

    void test("an aborted put stores nothing", () =>
      withStore(async ({ store }) => {
        await put(store, "x");
        const early = store.putBlob(Readable.from([Buffer.from("y")]), { signal: AbortSignal.abort() });
        await assert.rejects(early, isError("cancelled"));
        const ac = new AbortController();
        const { stream, read } = hangingStream(randomBytes(64 * 1024));
        const pending = store.putBlob(stream, { signal: ac.signal });
        await read;
        ac.abort();
        await assert.rejects(pending, isError("cancelled"));
        assert.deepEqual(
          (await collect(store.listBlobs())).map((b) => b.digest),
          [sha256("x")],
        );
      }));

    void test("an aborted get stops with cancelled", () =>
      withStore(async ({ store }, scratch) => {
        const { digest } = await store.putBlob(Readable.from(bigChunks(randomBytes(MiB), 8)));
        await assert.rejects(store.getBlob(digest, AbortSignal.abort()), isError("cancelled"));
        const ac = new AbortController();
        const reading = (async () => {
          for await (const _ of (await store.getBlob(digest, ac.signal)) as AsyncIterable<Buffer>) ac.abort();
        })();
        await assert.rejects(reading, isError("cancelled"));
        const dest = join(scratch, "aborted.bin");
        await assert.rejects(store.getBlobToFile(digest, dest, AbortSignal.abort()), isError("cancelled"));
        assert.deepEqual(await readdir(scratch), []);
      }));

    void test("20 concurrent puts of the same bytes, and of different bytes, all succeed", () =>
      withStore(async ({ store }) => {
        const same = randomBytes(256 * 1024);
        const results = await Promise.all(Array.from({ length: 20 }, () => put(store, same)));
        assert.deepEqual(new Set(results.map((r) => r.digest)), new Set([sha256(same)]));
        const contents = Array.from({ length: 20 }, () => randomBytes(100 * 1024));
        const infos = await Promise.all(contents.map((c) => put(store, c)));
        assert.deepEqual(
          infos.map((i) => i.digest),
          contents.map((c) => sha256(c)),
        );
        const listed = await collect(store.listBlobs());
        assert.equal(listed.length, 21);
        for (const b of listed) assert.equal((await store.verifyBlob(b.digest)).size, b.size);
        const [c0] = contents;
        assert.ok(c0 !== undefined);
        assert.deepEqual(await readAll(await store.getBlob(sha256(c0))), c0);
      }));

    void test("a manifest is written only if absent; the first stays", () =>
      withStore(async ({ store }) => {
        const blob = await put(store, "rootfs");
        const key = sha256(`key-${Math.random()}`);
        const first = manifest(key, { rootfs: { digest: blob.digest, size: blob.size, kind: "tree" } });
        assert.equal(await store.putManifest(first), true);
        assert.deepEqual(await store.getManifest(key), first);
        assert.equal(await store.putManifest({ ...first, producer: "agent-2", durationMs: 1 }), false);
        assert.deepEqual(await store.getManifest(key), first);
        const racers = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.putManifest(manifest(sha256("race"), {}, { producer: `agent-${i}` })),
          ),
        );
        assert.equal(racers.filter((won) => won).length, 1, "exactly one concurrent writer wins");
        await store.deleteManifest(key);
        assert.equal(await store.getManifest(key), undefined);
        await store.deleteManifest(key); // absent: no error
      }));

    void test("a manifest referring to a missing blob or malformed is refused", () =>
      withStore(async ({ store }) => {
        const have = await put(store, "have");
        const missing = sha256("not uploaded");
        const key = sha256("k");
        const m = manifest(key, {
          seed: { digest: have.digest, size: have.size, kind: "file" },
          iso: { digest: missing, size: 10, kind: "file" },
        });
        await assert.rejects(store.putManifest(m), isError("not_found", '"iso"', missing));
        assert.equal(await store.getManifest(key), undefined);
        await assert.rejects(store.putManifest(manifest("bad-key", {})), isError("invalid_argument", "key"));
        await assert.rejects(store.getManifest("bad-key"), isError("invalid_argument"));
      }));

    void test("listManifests returns every manifest", () =>
      withStore(async ({ store }) => {
        const blob = await put(store, "out");
        const keys = ["a", "b", "c"].map((s) => sha256(s));
        for (const k of keys)
          await store.putManifest(
            manifest(k, { out: { digest: blob.digest, size: blob.size, kind: "file" } }),
          );
        const listed = await collect(store.listManifests());
        assert.deepEqual(listed.map((m) => m.key).sort(), [...keys].sort());
        assert.ok(listed.every((m) => m.outputs.out?.digest === blob.digest));
      }));

    logConformance((fn) => withStore((f) => fn(f.store)));
    objectConformance((fn) => withStore((f) => fn(f.store)), options);
  });
}
