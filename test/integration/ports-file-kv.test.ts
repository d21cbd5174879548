/**
 * The file-backed KV (`stagefarm up`'s state) against the KV conformance suite, and what only it
 * promises: a reopened file holds every acknowledged write at its revision, the revision counter
 * goes on, deletes stay deleted, a torn last line is dropped and the journal is compacted.
 */
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FileKvStore } from "../../shared/ports/index.js";
import { kvConformance } from "../conformance/kv.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

async function tempDir(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "sf-file-kv-"));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

kvConformance("file", async () => {
  const tmp = await tempDir();
  const store = await FileKvStore.open(join(tmp.dir, "kv.jsonl"));
  return {
    store,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
});

test("a reopened file KV holds every acknowledged write, its revisions and no deleted key", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.dir, "kv.jsonl");
  const a = await FileKvStore.open(file);
  const r1 = await a.create("runs.a", enc("one"));
  const r2 = await a.update("runs.a", enc("two"), r1);
  await a.put("runs.b", enc("b"));
  await a.put("stages.b.s", enc("gone"));
  await a.delete("stages.b.s");
  await a.close();

  const b = await FileKvStore.open(file);
  assert.deepEqual(await b.keys(""), ["runs.a", "runs.b"]);
  const e = await b.get("runs.a");
  assert.equal(dec(e?.value), "two");
  assert.equal(e?.revision, r2);
  assert.equal(await b.get("stages.b.s"), undefined);
  // The counter goes on past every revision written before, the delete's included.
  const r = await b.put("runs.c", enc("c"));
  assert.ok(r > r2 + 3, `revision ${r} follows the first process's writes`);
  // Compare-and-set against the reopened revision.
  await b.update("runs.a", enc("three"), r2);
  await b.close();
});

test("a torn last line (a crash mid-append) is dropped; a corrupt middle line is refused", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.dir, "kv.jsonl");
  const a = await FileKvStore.open(file);
  await a.put("runs.a", enc("kept"));
  await a.close();
  await appendFile(file, '{"r":9,"k":"runs.a","v":"dG9');
  const b = await FileKvStore.open(file);
  assert.equal(dec((await b.get("runs.a"))?.value), "kept");
  await b.close();

  await appendFile(file, 'garbage\n{"r":12,"k":"runs.z","v":"eg=="}\n');
  await assert.rejects(FileKvStore.open(file), /line 3 is unreadable/);
});

test("the journal is compacted: rewriting one key keeps the file near its live size", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.dir, "kv.jsonl");
  const kv = await FileKvStore.open(file);
  const value = enc("x".repeat(64 << 10));
  for (let i = 0; i < 40; i++) await kv.put("runs.big", value);
  assert.ok((await stat(file)).size < 2 << 20, "compacted while open");
  await kv.close();
  const again = await FileKvStore.open(file);
  assert.equal((await again.get("runs.big"))?.value.length, value.length);
  await again.close();
  assert.equal((await readFile(file, "utf8")).split("\n").length, 3, "counter line, one entry, end");
});
