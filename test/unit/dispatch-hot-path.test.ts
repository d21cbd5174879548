/**
 * The dispatcher's hot path helpers: dispatch records held in memory in front of KV (a held
 * record is read from KV once, every write still goes through KV by compare-and-set, a conflict
 * or an unknown outcome drops the entry, an unheld record is never cached), and the keyed lanes
 * agent events apply in (one key in order, different keys at once, at most `max` pending).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type DispatchRecord, DispatchRecords, KeyedLanes } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { MemoryKvStore, type KvEntry } from "../../shared/ports/index.js";

const KEY = "stages.r1.build";

function queued(dispatch: number): DispatchRecord {
  return {
    t: "queued",
    dispatch,
    attempt: 1,
    pool: "any",
    requires: [],
    queuedAt: 1,
    job: {
      v: 1,
      runId: "r1",
      stage: {},
      stageName: "build",
      key: "a".repeat(64),
      inputs: {},
      attempt: 1,
      dispatch,
      jobs: 1,
    },
  };
}

/** A memory KV that counts reads and can fail the next update. */
class CountingKv extends MemoryKvStore {
  gets = 0;
  failNextUpdate = false;
  override get(key: string): Promise<KvEntry | undefined> {
    this.gets++;
    return super.get(key);
  }
  override update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    if (this.failNextUpdate) {
      this.failNextUpdate = false;
      return Promise.reject(new StagefarmError("unavailable", "injected: the reply was lost"));
    }
    return super.update(key, value, expectedRevision);
  }
}

describe("dispatch records in memory in front of KV", () => {
  test("a held record is read from KV once; its writes go to KV and keep the cache current", async () => {
    const kv = new CountingKv();
    const records = new DispatchRecords(kv, silentLogger());
    records.hold(KEY);
    assert.equal(await records.write(KEY, queued(1), undefined), true);
    const first = await records.read(KEY);
    assert.equal(kv.gets, 0, "the record just written is known without a read");
    assert.equal(first?.rec?.dispatch, 1);
    assert.equal(await records.write(KEY, queued(2), first?.revision), true);
    const second = await records.read(KEY);
    assert.equal(kv.gets, 0);
    assert.equal(second?.rec?.dispatch, 2);
    const stored = await kv.get(KEY);
    assert.equal(stored?.revision, second?.revision, "KV holds the write the cache shows");
    records.release(KEY);
    assert.equal(records.size, 0, "a released record leaves memory");
  });

  test("a conflict (another writer) drops the entry: the next read asks KV", async () => {
    const kv = new CountingKv();
    const records = new DispatchRecords(kv, silentLogger());
    records.hold(KEY);
    await records.write(KEY, queued(1), undefined);
    const mine = await records.read(KEY);
    // Another process writes behind this coordinator's back.
    await kv.update(KEY, new TextEncoder().encode(JSON.stringify(queued(5))), mine?.revision ?? 0);
    assert.equal(await records.write(KEY, queued(2), mine?.revision), false, "the stale write loses");
    const fresh = await records.read(KEY);
    assert.equal(kv.gets, 1, "read again from KV after the conflict");
    assert.equal(fresh?.rec?.dispatch, 5);
  });

  test("a write with an unknown outcome throws and drops the entry", async () => {
    const kv = new CountingKv();
    const records = new DispatchRecords(kv, silentLogger());
    records.hold(KEY);
    await records.write(KEY, queued(1), undefined);
    const cur = await records.read(KEY);
    kv.failNextUpdate = true;
    await assert.rejects(records.write(KEY, queued(2), cur?.revision), { code: "unavailable" });
    assert.equal(records.size, 0);
    assert.equal((await records.read(KEY))?.rec?.dispatch, 1, "KV still holds dispatch 1");
    assert.equal(kv.gets, 1, "read again from KV after the failed write");
  });

  test("a record nobody holds is never cached", async () => {
    const kv = new CountingKv();
    const records = new DispatchRecords(kv, silentLogger());
    await records.write(KEY, queued(1), undefined);
    await records.read(KEY);
    await records.read(KEY);
    assert.equal(kv.gets, 2);
    assert.equal(records.size, 0);
  });
});

describe("keyed lanes", () => {
  test("one key's tasks run in order, different keys' at once, at most max pending", async () => {
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const errors: string[] = [];
    const lanes = new KeyedLanes(3, (_err, key) => errors.push(key));
    const task = (name: string) => () =>
      new Promise<void>((resolve) => {
        order.push(`start ${name}`);
        gates.set(name, () => {
          order.push(`end ${name}`);
          resolve();
        });
      });
    await lanes.add("a", task("a1"));
    await lanes.add("a", task("a2"));
    await lanes.add("b", task("b1"));
    assert.equal(lanes.pending, 3);
    let admitted = false;
    const fourth = lanes.add("c", task("c1")).then(() => (admitted = true));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ["start a1", "start b1"], "a2 waits behind a1; b1 runs beside it");
    assert.equal(admitted, false, "a fourth task waits for room");
    gates.get("a1")?.();
    await fourth;
    await new Promise((r) => setImmediate(r));
    assert.ok(order.indexOf("start a2") > order.indexOf("end a1"), "a2 starts after a1 ended");
    assert.ok(order.includes("start c1"));
    // b1 still runs: the failing task waits behind it in lane b.
    const failing = lanes.add("b", () => Promise.reject(new Error("boom")));
    for (const name of ["a2", "b1", "c1"]) gates.get(name)?.();
    await failing;
    await lanes.idle();
    assert.equal(lanes.pending, 0);
    assert.deepEqual(errors, ["b"], "a failing task is reported with its key, the lane goes on");
  });
});
