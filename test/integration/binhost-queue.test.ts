/**
 * The binhost writers' lock (coordinator/binhost/write-queue.ts): submissions that queue while
 * a write runs are handed over as one batch, exclusive operations run alone and in order,
 * keys do not block each other, and a failing write rejects exactly its own batch.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyedWriteQueue } from "../../coordinator/testing.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

void test("batches what queued meanwhile, keeps exclusive operations in order, isolates keys and failures", async () => {
  const events: string[] = [];
  const gate = deferred();
  let first = true;
  const q = new KeyedWriteQueue<number, string>(async (key, batch) => {
    events.push(`${key}:[${batch.map((e) => e.item).join(",")}]`);
    if (first) {
      first = false;
      await gate.promise;
    }
    if (batch.some((e) => e.item < 0)) throw new Error("write failed");
    for (const e of batch) e.resolve(`${key}${e.item}`);
  });

  const a1 = q.submit("a", 1);
  // While a's first write waits: more publications and an exclusive operation queue up.
  await new Promise((r) => setImmediate(r));
  const a2 = q.submit("a", 2);
  const a3 = q.submit("a", 3);
  const ex = q.exclusive("a", () => {
    events.push("a:exclusive");
    return Promise.resolve("done");
  });
  const a4 = q.submit("a", 4);
  const b1 = q.submit("b", 1); // another key is not held up by a's write
  assert.equal(await b1, "b1");
  gate.resolve();
  assert.deepEqual(await Promise.all([a1, a2, a3, ex, a4]), ["a1", "a2", "a3", "done", "a4"]);
  assert.deepEqual(events, ["a:[1]", "b:[1]", "a:[2,3]", "a:exclusive", "a:[4]"]);

  // A write that throws rejects its whole batch, and only it.
  const bad = q.submit("c", -1);
  const good = bad.catch(() => undefined).then(() => q.submit("c", 5));
  await assert.rejects(bad, /write failed/);
  assert.equal(await good, "c5");
  await q.idle();
});
