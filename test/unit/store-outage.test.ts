/**
 * The store outage budget (shared/store/store-outage.ts) under fake timers: operations ride out
 * an outage shorter than the budget, fail naming the outage when it lasts longer, share one
 * outage clock, never retry what is not an outage, and stop waiting when aborted.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { isStoreOutageFailure, StoreOutage } from "../../shared/store/index.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");

/** What the S3 store throws once its own per-request retries are used up. */
function s3Down(): StagefarmError {
  return new StagefarmError(
    "unavailable",
    "cannot stat blob 00… in s3://127.0.0.1:1/b: the S3 server is unavailable after 7 attempts (ECONNREFUSED)",
    { details: { store: "s3://127.0.0.1:1/b", s3Code: "ECONNREFUSED", attempts: 7 } },
  );
}

/** Lets every pending promise callback run (setImmediate is not faked). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Moves the fake clock by `ms` in small steps, letting callbacks run between them. */
async function advance(ms: number, step = 100): Promise<void> {
  for (let left = ms; left > 0; left -= step) {
    await settle();
    mock.timers.tick(Math.min(step, left));
  }
  await settle();
}

/** An operation that fails like a stopped S3 server until `upAt` (fake time), then answers. */
function storeBackAt(upAt: number): { fn: () => Promise<string>; tries: () => number } {
  let tries = 0;
  return {
    fn: () => {
      tries++;
      return Date.now() >= upAt ? Promise.resolve("answer") : Promise.reject(s3Down());
    },
    tries: () => tries,
  };
}

void describe("store outage budget", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 }));
  afterEach(() => mock.timers.reset());

  void test("an operation rides out an outage shorter than the budget, and the outage is told", async () => {
    const outage = new StoreOutage({ budgetMs: 600_000, maxBackoffMs: 4000, random: () => 1 });
    const seen: Array<number | undefined> = [];
    outage.onChange((since) => seen.push(since));
    const op = storeBackAt(T0 + 30_000);
    let result: string | undefined;
    const p = outage.run("stat", op.fn).then((v) => (result = v));
    await advance(1000);
    assert.equal(outage.unavailableSince, T0);
    assert.match(outage.describe() ?? "", /^store unavailable since 2026-01-01T00:00:00.000Z$/);
    await advance(29_000);
    assert.equal(result, undefined, "still waiting for the store at 30 s");
    await advance(5000);
    await p;
    assert.equal(result, "answer");
    assert.equal(outage.unavailableSince, undefined);
    assert.deepEqual(seen, [T0, undefined]);
    // Backoff 0.5 s doubling to 4 s: a 30 s outage takes about a dozen tries, not hundreds.
    assert.ok(op.tries() >= 8 && op.tries() <= 14, `tries: ${op.tries()}`);
  });

  void test("an outage longer than the budget fails the operation with a message naming the outage", async () => {
    const outage = new StoreOutage({ budgetMs: 60_000, maxBackoffMs: 5000, random: () => 1 });
    const op = storeBackAt(Number.POSITIVE_INFINITY);
    let settled = false;
    const p = outage.run("storing log logs/r/s/1.log", op.fn).then(
      () => undefined,
      (err: unknown) => err,
    );
    void p.finally(() => (settled = true));
    await advance(59_000);
    assert.equal(settled, false, "within the budget it still waits");
    await advance(7000);
    const failure = await p;
    assert.ok(failure instanceof StagefarmError);
    assert.equal(failure.code, "unavailable");
    // "(1m00s, …)": the last try happens at the budget's end, not a backoff later.
    assert.match(
      failure.message,
      /^storing log logs\/r\/s\/1\.log: store outage longer than the outage budget: unavailable since 2026-01-01T00:00:00\.000Z \(1m00s, budget 1m00s\); last error: .*unavailable after 7 attempts/,
    );
    assert.equal(failure.details["storeOutage"], true);
    assert.equal(isStoreOutageFailure(failure), false, "a spent budget is never retried again");
  });

  void test("the outage owns the clock: an operation started late gets what is left of the budget", async () => {
    const outage = new StoreOutage({ budgetMs: 20_000, maxBackoffMs: 2000, random: () => 1 });
    const first = outage.run("first", storeBackAt(Number.POSITIVE_INFINITY).fn).catch((e: unknown) => e);
    await advance(15_000);
    let lateFailedAt: number | undefined;
    const late = outage
      .run("late", storeBackAt(Number.POSITIVE_INFINITY).fn)
      .catch((e: unknown) => ((lateFailedAt = Date.now()), e));
    await advance(7000);
    const [a, b] = await Promise.all([first, late]);
    assert.ok(a instanceof StagefarmError && b instanceof StagefarmError);
    assert.match(b.message, /^late: store outage longer than the outage budget/);
    assert.ok(
      lateFailedAt !== undefined && lateFailedAt - T0 <= 20_500,
      `late failed at +${String((lateFailedAt ?? 0) - T0)} ms`,
    );
  });

  void test("one success anywhere ends the outage; failures that are not an outage are not retried", async () => {
    const outage = new StoreOutage({ budgetMs: 600_000 });
    outage.unavailable(s3Down());
    assert.equal(outage.unavailableSince, T0);
    let tries = 0;
    const notFound = new StagefarmError("not_found", "no such blob");
    await assert.rejects(
      outage.run("get", () => (tries++, Promise.reject(notFound))),
      (e) => e === notFound,
    );
    // A local `unavailable` (a disk, not the store) is not an outage either.
    const local = new StagefarmError("unavailable", "cannot write stage log");
    await assert.rejects(
      outage.run("log", () => (tries++, Promise.reject(local))),
      (e) => e === local,
    );
    assert.equal(tries, 2);
    assert.equal(await outage.run("stat", () => Promise.resolve(1)), 1);
    assert.equal(outage.unavailableSince, undefined);
  });

  void test("an abort stops the wait at once with cancelled", async () => {
    const outage = new StoreOutage({ budgetMs: 600_000 });
    const abort = new AbortController();
    const p = outage.run("copy", storeBackAt(Number.POSITIVE_INFINITY).fn, abort.signal);
    await advance(3000);
    abort.abort();
    await assert.rejects(p, (e) => e instanceof StagefarmError && e.code === "cancelled");
  });
});
