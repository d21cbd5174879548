/**
 * The KvStore conformance suite. Every implementation registers it with a factory making a
 * fresh, empty store and a disposer removing everything it made:
 *
 *   kvConformance("memory", async () => ({ store, [Symbol.asyncDispose]: ... }));
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { KvConflictError, type KvChange, type KvStore } from "../../shared/ports/index.js";

/** No test may hang the suite. */
const LIMIT = { timeout: 30_000 };

export interface KvFixture {
  store: KvStore;
  [Symbol.asyncDispose](): Promise<void>;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

/** Reads changes from a watch until `count` arrived (or fails after `timeoutMs`). */
class Watch {
  readonly #controller = new AbortController();
  readonly #it: AsyncIterator<KvChange>;
  readonly seen: KvChange[] = [];

  constructor(store: KvStore, prefix: string) {
    this.#it = store.watch(prefix, { signal: this.#controller.signal })[Symbol.asyncIterator]();
  }

  async take(count: number, timeoutMs = 5000): Promise<KvChange[]> {
    const out: KvChange[] = [];
    while (out.length < count) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`watch: only ${out.length} of ${count} changes came`)),
          timeoutMs,
        );
      });
      try {
        const r = await Promise.race([this.#it.next(), timeout]);
        if (r.done) throw new Error(`watch ended after ${out.length} of ${count} changes`);
        out.push(r.value);
        this.seen.push(r.value);
      } finally {
        clearTimeout(timer);
      }
    }
    return out;
  }

  /** Stops the watch and reports whether the iteration ended. */
  async stop(): Promise<boolean> {
    this.#controller.abort();
    const r = await this.#it.next();
    return r.done === true;
  }
}

function show(c: KvChange): string {
  return c.op === "put" ? `put ${c.key}=${dec(c.value)}` : `del ${c.key}`;
}

export function kvConformance(name: string, factory: () => Promise<KvFixture>): void {
  describe(`KvStore conformance: ${name}`, () => {
    test("create, get and revisions that grow across keys", LIMIT, async () => {
      await using f = await factory();
      const { store } = f;
      assert.equal(await store.get("runs.r1"), undefined);
      const r1 = await store.create("runs.r1", enc("one"));
      const r2 = await store.create("runs.r2", enc("two"));
      assert.ok(r1 > 0 && r2 > r1, `revisions ${r1} then ${r2}`);
      const got = await store.get("runs.r1");
      assert.equal(dec(got?.value), "one");
      assert.equal(got?.revision, r1);
    });

    test("create of an existing key is a conflict naming the key", LIMIT, async () => {
      await using f = await factory();
      await f.store.create("runs.r1", enc("first"));
      await assert.rejects(f.store.create("runs.r1", enc("second")), isError("conflict", "runs.r1"));
      await assert.rejects(f.store.create("runs.r1", enc("second")), KvConflictError);
      assert.equal(dec((await f.store.get("runs.r1"))?.value), "first");
    });

    test(
      "update is a compare-and-set: a stale revision is a conflict and changes nothing",
      LIMIT,
      async () => {
        await using f = await factory();
        const { store } = f;
        const r1 = await store.create("stages.r1.build", enc("ready"));
        const r2 = await store.update("stages.r1.build", enc("running"), r1);
        assert.ok(r2 > r1);
        await assert.rejects(
          store.update("stages.r1.build", enc("stale write"), r1),
          isError("conflict", "stages.r1.build"),
        );
        const now = await store.get("stages.r1.build");
        assert.deepEqual([dec(now?.value), now?.revision], ["running", r2]);
        await assert.rejects(store.update("stages.r1.absent", enc("x"), r2), isError("conflict"));
        const r3 = await store.put("stages.r1.build", enc("done"));
        assert.ok(r3 > r2);
        assert.equal(dec((await store.get("stages.r1.build"))?.value), "done");
      },
    );

    test(
      "delete hides the key, conditional delete checks the revision, create works again",
      LIMIT,
      async () => {
        await using f = await factory();
        const { store } = f;
        const r1 = await store.create("leases.a", enc("agent-1"));
        const r2 = await store.update("leases.a", enc("agent-2"), r1);
        await assert.rejects(store.delete("leases.a", r1), isError("conflict", "leases.a"));
        assert.equal(dec((await store.get("leases.a"))?.value), "agent-2");
        await store.delete("leases.a", r2);
        assert.equal(await store.get("leases.a"), undefined);
        assert.deepEqual(await store.keys("leases"), []);
        const r3 = await store.create("leases.a", enc("agent-3"));
        assert.ok(r3 > r2);
        await store.delete("leases.a");
        assert.equal(await store.get("leases.a"), undefined);
        await store.delete("leases.never-existed");
      },
    );

    test("keys lists the existing keys strictly below a prefix, sorted", LIMIT, async () => {
      await using f = await factory();
      const { store } = f;
      for (const k of ["stages.r1.b", "runs.r2", "stages.r1.a", "stages.r10.c", "runs.r1", "stages.r1"])
        await store.create(k, enc(k));
      assert.deepEqual(await store.keys("stages.r1"), ["stages.r1.a", "stages.r1.b"]);
      assert.deepEqual(await store.keys("runs"), ["runs.r1", "runs.r2"]);
      assert.deepEqual(await store.keys("nothing.here"), []);
      assert.deepEqual(await store.keys(""), [
        "runs.r1",
        "runs.r2",
        "stages.r1",
        "stages.r1.a",
        "stages.r1.b",
        "stages.r10.c",
      ]);
    });

    test("keys and prefixes outside the token syntax are refused with invalid_argument", LIMIT, async () => {
      await using f = await factory();
      const { store } = f;
      for (const bad of ["", "a b", "a..b", ".a", "a.", "a.*", "a.>", "runs/r1", "ü"])
        await assert.rejects(store.create(bad, enc("x")), isError("invalid_argument", "invalid key"), bad);
      await assert.rejects(store.get("a.*"), isError("invalid_argument"));
      await assert.rejects(store.keys("a.>"), isError("invalid_argument", "key prefix"));
      await store.create("Run_1.stage-x.arch=amd64", enc("ok"));
    });

    test("stored values are copies: changing the caller's buffer changes nothing", LIMIT, async () => {
      await using f = await factory();
      const buf = enc("abc");
      await f.store.create("k.v", buf);
      buf[0] = 0x7a;
      const got = await f.store.get("k.v");
      assert.equal(dec(got?.value), "abc");
    });

    test(
      "watch sees the current values first, then puts and deletes below its prefix only",
      LIMIT,
      async () => {
        await using f = await factory();
        const { store } = f;
        const ra = await store.create("stages.r1.a", enc("a1"));
        await store.create("stages.r1.gone", enc("x"));
        await store.delete("stages.r1.gone");
        await store.create("runs.r1", enc("not below the prefix"));
        const rb = await store.create("stages.r1.b", enc("b1"));
        const watch = new Watch(store, "stages.r1");
        const initial = await watch.take(2);
        assert.deepEqual(initial.map(show), ["put stages.r1.a=a1", "put stages.r1.b=b1"]);
        assert.deepEqual(
          initial.map((c) => c.revision),
          [ra, rb],
        );
        const ra2 = await store.update("stages.r1.a", enc("a2"), ra);
        await store.put("runs.r1", enc("still not below"));
        await store.delete("stages.r1.b");
        await store.create("stages.r1.c", enc("c1"));
        const updates = await watch.take(3);
        assert.deepEqual(updates.map(show), ["put stages.r1.a=a2", "del stages.r1.b", "put stages.r1.c=c1"]);
        assert.equal(updates[0]?.revision, ra2);
        assert.ok(
          (updates[1]?.revision ?? 0) > ra2 && (updates[2]?.revision ?? 0) > (updates[1]?.revision ?? 0),
        );
        assert.equal(await watch.stop(), true, "the watch ends when its signal fires");
      },
    );

    test("watch of an empty prefix on an empty store sees later writes", LIMIT, async () => {
      await using f = await factory();
      const watch = new Watch(f.store, "");
      const wrote = f.store.create("a.b", enc("1"));
      const [first] = await watch.take(1);
      await wrote;
      assert.equal(first && show(first), "put a.b=1");
      assert.equal(await watch.stop(), true);
    });

    test("10 concurrent compare-and-set writers: exactly one wins per revision", LIMIT, async () => {
      await using f = await factory();
      const { store } = f;
      let revision = await store.create("counter", enc("0"));
      for (let round = 1; round <= 3; round++) {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, w) =>
            store.update("counter", enc(`round ${round} writer ${w}`), revision),
          ),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<number> => r.status === "fulfilled");
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        assert.equal(won.length, 1, `round ${round}: ${won.length} writers won`);
        for (const l of lost) assert.ok(isError("conflict")(l.reason));
        revision = won[0]?.value ?? 0;
        assert.equal((await store.get("counter"))?.revision, revision);
      }
      // Increment with retries: no increment may be lost, every winning revision is distinct.
      await store.put("counter", enc("0"));
      const revisions: number[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 3; i++) {
            for (;;) {
              const cur = await store.get("counter");
              assert.ok(cur);
              try {
                revisions.push(
                  await store.update("counter", enc(String(Number(dec(cur.value)) + 1)), cur.revision),
                );
                break;
              } catch (err: unknown) {
                if (!(err instanceof KvConflictError)) throw err;
              }
            }
          }
        }),
      );
      assert.equal(dec((await store.get("counter"))?.value), "30");
      assert.equal(new Set(revisions).size, 30);
    });

    test("close ends open watches and later calls fail with cancelled", LIMIT, async () => {
      await using f = await factory();
      const { store } = f;
      await store.create("a.b", enc("1"));
      const controller = new AbortController();
      const it = store.watch("", { signal: controller.signal })[Symbol.asyncIterator]();
      assert.equal((await it.next()).done, false);
      const ended = it.next();
      await store.close();
      assert.equal((await ended).done, true);
      await assert.rejects(store.get("a.b"), isError("cancelled"));
      await store.close();
    });
  });
}
