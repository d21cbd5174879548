/**
 * The filesystem artifact store: the shared conformance suite plus what only a filesystem has
 * (layout on disk, file modes, temp files, damaged manifest files).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { sha256, type Digest } from "../../shared/digest.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { blobPath, FsArtifactStore, type Manifest } from "../../shared/store/index.js";
import { manifestPath } from "../../shared/store/testing.js";
import { artifactStoreConformance } from "../conformance/artifact-store.js";
import { poll } from "../helpers/poll.js";

async function corruptFile(file: string): Promise<void> {
  await chmod(file, 0o644);
  const bytes = await readFile(file);
  if (bytes.length === 0) await writeFile(file, "x");
  else {
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
  }
}

artifactStoreConformance("fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "sf-store-"));
  const store = await FsArtifactStore.open(root);
  return {
    store,
    corrupt: (digest: Digest) => corruptFile(join(root, blobPath(digest))),
    async [Symbol.asyncDispose]() {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

function manifest(key: Digest, outputs: Manifest["outputs"] = {}): Manifest {
  return {
    v: 1,
    key,
    pipeline: "demo",
    stage: "build",
    runner: "shell",
    outputs,
    createdAt: new Date().toISOString(),
    durationMs: 5,
    producer: "local",
  };
}

void describe("FsArtifactStore on disk", () => {
  let root = "";
  let store: FsArtifactStore;
  const tmpFiles = () => readdir(join(root, "tmp"));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sf-store-"));
    store = await FsArtifactStore.open(root);
  });
  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  void test("open creates the layout and describe names the root", async () => {
    for (const dir of ["cas/sha256", "ac", "logs", "tmp"])
      assert.ok((await stat(join(root, dir))).isDirectory(), dir);
    assert.equal(store.describe, `fs:${root}`);
  });

  void test("blobs, manifests and logs land at their layout paths; blobs are read-only", async () => {
    const { digest } = await store.putBlob(Readable.from([Buffer.from("layout")]));
    assert.equal(blobPath(digest), `cas/sha256/${digest.slice(0, 2)}/${digest}`);
    const st = await stat(join(root, "cas", "sha256", digest.slice(0, 2), digest));
    assert.equal(st.mode & 0o777, 0o444);
    const key = sha256("layout-key");
    assert.equal(await store.putManifest(manifest(key, { out: { digest, size: 6, kind: "file" } })), true);
    const onDisk = JSON.parse(await readFile(join(root, "ac", `${key}.json`), "utf8")) as { key?: unknown };
    assert.equal(onDisk.key, key);
    await store.putLog("logs/r/s/1.log", "hi\n");
    assert.equal(await readFile(join(root, "logs/r/s/1.log"), "utf8"), "hi\n");
    assert.deepEqual(await tmpFiles(), []);
  });

  void test("no temp files are left after failed puts", async () => {
    const wrong = sha256("other");
    await assert.rejects(
      store.putBlob(Readable.from([Buffer.from("a")]), { expected: wrong }),
      isError("digest_mismatch"),
    );
    const failing = new Readable({
      read() {
        this.destroy(new Error("upstream broke"));
      },
    });
    await assert.rejects(store.putBlob(failing), isError("internal", "upstream broke"));
    await assert.rejects(store.putBlobFile(join(root, "nope")), isError("not_found"));
    await assert.rejects(
      store.putManifest(manifest(sha256("m"), { o: { digest: wrong, size: 1, kind: "file" } })),
    );
    assert.deepEqual(await tmpFiles(), []);
  });

  void test("a write interrupted by an AbortSignal leaves nothing visible", async () => {
    const before = (await readdir(join(root, "cas", "sha256"), { recursive: true })).length;
    const ac = new AbortController();
    const chunk = randomBytes(256 * 1024);
    let sent = 0;
    const endless = new Readable({
      read() {
        if (sent++ < 4) this.push(chunk);
      },
    });
    const pending = store.putBlob(endless, { signal: ac.signal });
    await poll(
      async () => {
        for (const f of await tmpFiles()) if ((await stat(join(root, "tmp", f))).size > 0) return true;
        return false;
      },
      { timeoutMs: 5000, what: "the temp file to hold data" },
    );
    ac.abort();
    await assert.rejects(pending, isError("cancelled"));
    assert.deepEqual(await tmpFiles(), []);
    assert.equal((await readdir(join(root, "cas", "sha256"), { recursive: true })).length, before);
  });

  void test("binhost objects are plain files at their paths, replaced by rename", async () => {
    const path = "binhost/main/dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar";
    const first = randomBytes(300 * 1024);
    const put = await store.putObject(path, first);
    const file = join(root, path);
    assert.deepEqual(await readFile(file), first);
    const st = await stat(file);
    assert.equal(put.size, st.size);
    assert.equal(put.mtime.getTime(), st.mtime.getTime());
    // A reader that opened the old object keeps reading the old bytes after a replace.
    const reading = await store.getObject(path);
    const second = randomBytes(200 * 1024);
    await store.putObject(path, Readable.from([second]));
    const chunks: Buffer[] = [];
    for await (const c of reading as AsyncIterable<Buffer>) chunks.push(c);
    assert.deepEqual(Buffer.concat(chunks), first);
    assert.deepEqual(await readFile(file), second);
    assert.notEqual((await stat(file)).ino, st.ino, "replaced by a new file, not rewritten in place");
    assert.deepEqual(await tmpFiles(), []);
    await assert.rejects(
      store.putObject(
        path,
        Readable.from(
          (function* () {
            yield Buffer.from("x");
            throw new Error("gone");
          })(),
        ),
      ),
      /gone/,
    );
    assert.deepEqual(await tmpFiles(), []);
    // A directory in the way of an object (or an object in the way of a directory) is refused.
    await assert.rejects(
      store.putObject("binhost/main/dev-libs", "x"),
      isError("invalid_argument", "in the way"),
    );
    await assert.rejects(store.putObject(`${path}/below`, "x"), isError("invalid_argument", "in the way"));
    await store.deleteObject(path);
    await assert.rejects(stat(file), /ENOENT/);
  });

  void test("a damaged manifest file is corrupt_artifact naming the file, never returned", async () => {
    const blob = await store.putBlob(Readable.from([Buffer.from("m-out")]));
    const key = sha256("damaged");
    await store.putManifest(manifest(key, { out: { digest: blob.digest, size: blob.size, kind: "file" } }));
    const file = join(root, manifestPath(key));
    const text = await readFile(file, "utf8");
    await writeFile(file, text.slice(0, text.length / 2));
    await assert.rejects(store.getManifest(key), isError("corrupt_artifact", file, "not valid JSON"));
    await assert.rejects(
      (async () => {
        for await (const _ of store.listManifests());
      })(),
      isError("corrupt_artifact", file),
    );
    await writeFile(file, JSON.stringify({ ...JSON.parse(text), outputs: { out: { digest: "zz" } } }));
    await assert.rejects(store.getManifest(key), isError("corrupt_artifact", file, "outputs.out.digest"));
    await writeFile(file, JSON.stringify({ ...JSON.parse(text), key: sha256("elsewhere") }));
    await assert.rejects(store.getManifest(key), isError("corrupt_artifact", "stored under"));
    await store.deleteManifest(key);
  });

  void test("storing the bytes again heals a corrupt copy and refreshes its age", async () => {
    const { digest } = await store.putBlob(Readable.from([Buffer.from("heal me")]));
    const file = join(root, blobPath(digest));
    await corruptFile(file);
    await utimes(file, new Date(1000), new Date(1000));
    await assert.rejects(store.verifyBlob(digest), isError("corrupt_artifact"));
    await store.putBlob(Readable.from([Buffer.from("heal me")]));
    assert.equal((await store.verifyBlob(digest)).size, 7);
    const info = await store.statBlob(digest);
    assert.ok(info?.mtime !== undefined && Date.now() - info.mtime.getTime() < 60_000);
  });

  void test("removeStaleTemp removes only old temp files", async () => {
    await writeFile(join(root, "tmp", "old"), "x");
    await writeFile(join(root, "tmp", "new"), "y");
    await utimes(join(root, "tmp", "old"), new Date(1000), new Date(1000));
    assert.deepEqual(await store.removeStaleTemp(3_600_000), ["old"]);
    assert.deepEqual(await tmpFiles(), ["new"]);
    await rm(join(root, "tmp", "new"));
  });

  void test("close is idempotent and later use is refused", async () => {
    const other = await FsArtifactStore.open(join(root, "second"));
    await other.close();
    await other.close();
    await assert.rejects(other.statBlob(sha256("x")), isError("internal", "closed"));
  });
});
