/**
 * The KV that rides out NATS outages (shared/nats/outage-kv.ts) over a MemoryKvStore with
 * injected faults: a write whose reply was lost (applied, then `unavailable`) and that is tried
 * again is recognised as this call's own write, not turned into a conflict; a real conflict
 * stays one; only NATS outage errors are retried; a spent budget fails naming the NATS outage.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { isNatsOutageFailure, OutageTolerantKv } from "../../shared/nats/index.js";
import { MemoryKvStore, type KvStore } from "../../shared/ports/index.js";
import { StoreOutage } from "../../shared/store/index.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function natsDown(): StagefarmError {
  return new StagefarmError("unavailable", "KV bucket s: NATS is unavailable (503)", {
    details: { natsCode: "503" },
  });
}

/** `kv` with some methods replaced (the rest delegated). */
function over(kv: KvStore, methods: Partial<KvStore>): KvStore {
  return {
    get: (k) => kv.get(k),
    create: (k, v) => kv.create(k, v),
    update: (k, v, r) => kv.update(k, v, r),
    put: (k, v) => kv.put(k, v),
    delete: (k, r) => kv.delete(k, r),
    keys: (p) => kv.keys(p),
    watch: (p, o) => kv.watch(p, o),
    close: () => kv.close(),
    ...methods,
  };
}

/** Fails the next `n` writes with a NATS outage error: `lost` ones after applying them (a lost reply). */
function faulty(kv: KvStore, plan: Array<"lost" | "refused">): KvStore {
  const write =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const fault = plan.shift();
      if (fault === "refused") throw natsDown();
      const r = await fn(...a);
      if (fault === "lost") throw natsDown();
      return r;
    };
  return over(kv, {
    create: write(kv.create.bind(kv)),
    update: write(kv.update.bind(kv)),
    delete: write(kv.delete.bind(kv)),
    put: write(kv.put.bind(kv)),
  });
}

function outage(budgetMs = 60_000): { outage: StoreOutage; waits: number[] } {
  const waits: number[] = [];
  let now = 0;
  return {
    waits,
    outage: new StoreOutage({
      name: "NATS",
      isFailure: isNatsOutageFailure,
      budgetMs,
      now: () => now,
      wait: (ms) => {
        waits.push(ms);
        now += ms;
        return Promise.resolve();
      },
      random: () => 1,
    }),
  };
}

describe("OutageTolerantKv", () => {
  test("a create applied before its reply was lost is this call's, not a conflict", async () => {
    const mem = new MemoryKvStore();
    const { outage: o, waits } = outage();
    const kv = new OutageTolerantKv(faulty(mem, ["lost"]), o);
    const rev = await kv.create("stages.r.a", enc("queued#1"));
    assert.equal(rev, (await mem.get("stages.r.a"))?.revision);
    assert.equal(waits.length, 1);
    assert.equal(o.unavailableSince, undefined, "the outage ended with the answer");
  });

  test("an update applied before its reply was lost returns its revision", async () => {
    const mem = new MemoryKvStore();
    const r1 = await mem.create("stages.r.a", enc("queued#1"));
    const kv = new OutageTolerantKv(faulty(mem, ["refused", "lost"]), outage().outage);
    const r2 = await kv.update("stages.r.a", enc("running#1 token x"), r1);
    const cur = await mem.get("stages.r.a");
    assert.equal(r2, cur?.revision);
    assert.ok(r2 > r1);
  });

  test("a real conflict stays a conflict after a retry", async () => {
    const mem = new MemoryKvStore();
    const r1 = await mem.create("stages.r.a", enc("queued#1"));
    const kv = new OutageTolerantKv(faulty(mem, ["refused"]), outage().outage);
    // Another writer wins while this update waits for NATS.
    await mem.update("stages.r.a", enc("running#1 by someone else"), r1);
    await assert.rejects(kv.update("stages.r.a", enc("running#1 token x"), r1), { code: "conflict" });
    await assert.rejects(kv.create("stages.r.a", enc("mine")), { code: "conflict" });
  });

  test("a conditional delete applied before its reply was lost succeeds", async () => {
    const mem = new MemoryKvStore();
    const r1 = await mem.create("runs.r", enc("doc"));
    await new OutageTolerantKv(faulty(mem, ["lost"]), outage().outage).delete("runs.r", r1);
    assert.equal(await mem.get("runs.r"), undefined);
  });

  test("other errors are not retried; a spent budget names the NATS outage", async () => {
    const mem = new MemoryKvStore();
    const { outage: o, waits } = outage();
    const failing = over(mem, {
      put: () => Promise.reject(new StagefarmError("invalid_argument", "NATS refused it")),
    });
    await assert.rejects(new OutageTolerantKv(failing, o).put("runs.r", enc("x")), {
      code: "invalid_argument",
    });
    assert.equal(waits.length, 0);
    const short = outage(1000);
    const down = over(mem, { put: () => Promise.reject(natsDown()) });
    await assert.rejects(new OutageTolerantKv(down, short.outage).put("runs.r", enc("x")), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "unavailable");
      assert.match(err.message, /NATS outage longer than the outage budget/);
      assert.equal(isNatsOutageFailure(err), false, "a spent budget is not retried again");
      return true;
    });
    assert.ok(short.waits.length >= 1);
  });
});
