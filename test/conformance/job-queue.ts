/**
 * The JobQueue conformance suite. Every implementation registers it with a factory making a
 * fresh, empty queue whose messages are redelivered after `ackWaitMs`, and a disposer removing
 * everything it made:
 *
 *   jobQueueConformance("memory", async ({ ackWaitMs }) => ({ queue, [Symbol.asyncDispose]: ... }));
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { poolName, type JobQueue, type QueueMessage } from "../../shared/ports/index.js";
import { poll } from "../helpers/poll.js";

/** No test may hang the suite. */
const LIMIT = { timeout: 30_000 };

export interface JobQueueFixture {
  queue: JobQueue;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Waits the suite uses; the defaults suit JetStream (pulls wait up to 1 s). */
export interface SuiteTiming {
  ackWaitMs?: number;
  quietMs?: number;
}

export type JobQueueFactory = (opts: { ackWaitMs: number }) => Promise<JobQueueFixture>;

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

/**
 * Reads an async iterable with deadlines: `next(ms)` returns the next item or undefined when
 * none came in time (the pending read is kept for the following call). `close` stops the
 * iteration; `onLeftover` handles an item that arrived while closing.
 */
export class Reader<T> {
  readonly #controller = new AbortController();
  readonly #it: AsyncIterator<T>;
  #pending: Promise<IteratorResult<T>> | undefined;

  constructor(
    open: (signal: AbortSignal) => AsyncIterable<T>,
    readonly onLeftover: (item: T) => void = () => undefined,
  ) {
    this.#it = open(this.#controller.signal)[Symbol.asyncIterator]();
  }

  async next(timeoutMs: number): Promise<T | undefined> {
    this.#pending ??= this.#it.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">(
      (resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)),
    );
    try {
      const r = await Promise.race([this.#pending, timeout]);
      if (r === "timeout") return undefined;
      this.#pending = undefined;
      if (r.done) throw new Error("the iteration ended early");
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Like `next` but fails when nothing came. */
  async take(timeoutMs: number, what = "an item"): Promise<T> {
    const item = await this.next(timeoutMs);
    if (item === undefined) assert.fail(`expected ${what} within ${timeoutMs} ms`);
    return item;
  }

  /** Stops reading; resolves once the iteration ended. */
  async close(): Promise<void> {
    this.#controller.abort();
    const pending = this.#pending ?? this.#it.next();
    this.#pending = undefined;
    const r = await pending;
    if (!r.done) {
      this.onLeftover(r.value);
      await this.#it.return?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function reader(queue: JobQueue, pools: string[], maxInFlight = 1): Reader<QueueMessage> {
  return new Reader(
    (signal) => queue.consume(pools, { signal, maxInFlight }),
    (m) => m.nak(),
  );
}

export function jobQueueConformance(name: string, factory: JobQueueFactory, timing: SuiteTiming = {}): void {
  /** Redelivery time of the implementation under test. */
  const ACK_WAIT_MS = timing.ackWaitMs ?? 1000;
  /** How long "nothing more comes" is watched for. */
  const QUIET_MS = timing.quietMs ?? 1500;
  const open = (): Promise<JobQueueFixture> => factory({ ackWaitMs: ACK_WAIT_MS });
  const A = poolName(["x86_64", "catalyst"]);
  const B = poolName([]);

  describe(`JobQueue conformance: ${name}`, () => {
    test("poolName is deterministic, sorted, escaped and injective", LIMIT, () => {
      assert.equal(A, "catalyst+x86_64");
      assert.equal(poolName(["catalyst", "x86_64", "catalyst"]), A);
      assert.equal(B, "any");
      assert.equal(poolName(["arch=x86_64"]), "arch=x86_64");
      assert.notEqual(poolName(["a.b"]), poolName(["a_b"]));
      assert.notEqual(poolName(["a+b"]), poolName(["a", "b"]));
      assert.match(poolName(["x".repeat(200)]), /^pool-[0-9a-f]{32}$/);
      assert.throws(() => poolName(["any"]), isError("invalid_argument", "reserved"));
    });

    test("a consumer of one pool never sees another pool's jobs", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(B, enc("b1"));
      await queue.publish(A, enc("a1"));
      await using onA = reader(queue, [A]);
      const m = await onA.take(3000, "the job of pool A");
      assert.deepEqual([m.pool, text(m.payload), m.deliveryCount], [A, "a1", 1]);
      m.ack();
      assert.equal(await onA.next(QUIET_MS), undefined, "pool B's job reached a pool-A consumer");
      await using onB = reader(queue, [B]);
      const mb = await onB.take(3000, "the job of pool B");
      assert.deepEqual([mb.pool, text(mb.payload)], [B, "b1"]);
      mb.ack();
    });

    test("ack removes the job: depth drops and it is never redelivered", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("j1"));
      assert.equal(await queue.depth(A), 1);
      await using r = reader(queue, [A]);
      const m = await r.take(3000);
      assert.equal(await queue.depth(A), 1, "a job being worked on still counts");
      m.ack();
      await poll(async () => (await queue.depth(A)) === 0, { timeoutMs: 5000, what: "depth is 0" });
      assert.equal(await r.next(ACK_WAIT_MS * 2), undefined, "an acked job came back");
    });

    test("a job not acked within the ack wait is redelivered with deliveryCount 2", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("slow"));
      await using r = reader(queue, [A], 2);
      const first = await r.take(3000);
      const at = Date.now();
      assert.equal(first.deliveryCount, 1);
      const again = await r.take(ACK_WAIT_MS + 4000, "the redelivery");
      const waited = Date.now() - at;
      assert.deepEqual([text(again.payload), again.deliveryCount], ["slow", 2]);
      assert.ok(waited >= ACK_WAIT_MS * 0.8, `redelivered after ${waited} ms, before the ack wait`);
      again.ack();
      first.ack(); // a late ack of the first delivery is harmless
      await poll(async () => (await queue.depth(A)) === 0, { timeoutMs: 5000, what: "depth is 0" });
    });

    test("nak(delay) redelivers after the delay, not before", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("retry me"));
      await using r = reader(queue, [A]);
      const first = await r.take(3000);
      const at = Date.now();
      const delayMs = ACK_WAIT_MS * 1.5;
      first.nak(delayMs);
      const again = await r.take(delayMs + 4000, "the redelivery after nak");
      const waited = Date.now() - at;
      assert.deepEqual([text(again.payload), again.deliveryCount], ["retry me", 2]);
      assert.ok(waited >= delayMs * 0.85, `redelivered after ${waited} ms, before the nak delay`);
      again.nak();
      const third = await r.take(3000, "the redelivery after nak without delay");
      assert.equal(third.deliveryCount, 3);
      third.ack();
    });

    test("term drops the job for good", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("poison"));
      await using r = reader(queue, [A], 2);
      const m = await r.take(3000);
      m.term();
      m.ack(); // only the first settlement counts
      await poll(async () => (await queue.depth(A)) === 0, { timeoutMs: 5000, what: "depth is 0" });
      assert.equal(await r.next(ACK_WAIT_MS * 2), undefined, "a termed job came back");
    });

    test("working() keeps extending the ack wait", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("long build"));
      await using r = reader(queue, [A], 2);
      const m = await r.take(3000);
      const until = Date.now() + ACK_WAIT_MS * 2.5;
      while (Date.now() < until) {
        m.working();
        assert.equal(await r.next(ACK_WAIT_MS / 4), undefined, "redelivered although working() was called");
      }
      const again = await r.take(ACK_WAIT_MS + 4000, "the redelivery once working() stopped");
      assert.equal(again.deliveryCount, 2);
      again.ack();
    });

    test("maxInFlight limits unsettled deliveries; settling frees a slot", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      for (const n of [1, 2, 3]) await queue.publish(A, enc(`j${n}`));
      await using r = reader(queue, [A], 2);
      const m1 = await r.take(3000);
      const m2 = await r.take(3000);
      assert.deepEqual(
        [m1, m2].map((m) => text(m.payload)),
        ["j1", "j2"],
      );
      assert.equal(await r.next(ACK_WAIT_MS / 2), undefined, "a third job came while two were in flight");
      m1.ack();
      const m3 = await r.take(3000, "the third job once a slot was free");
      assert.equal(text(m3.payload), "j3");
      m2.ack();
      m3.ack();
    });

    test("depth counts the jobs of each pool until acked or termed", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      for (const n of [1, 2, 3]) await queue.publish(A, enc(`a${n}`));
      await queue.publish(B, enc("b1"));
      assert.deepEqual(await Promise.all([queue.depth(A), queue.depth(B), queue.depth("kvm")]), [3, 1, 0]);
      await using r = reader(queue, [A]);
      (await r.take(3000)).ack();
      await poll(async () => (await queue.depth(A)) === 2, { timeoutMs: 5000, what: "depth(A) is 2" });
      assert.equal(await queue.depth(B), 1);
    });

    test("a repeated msgId within the dedupe window is dropped", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await queue.publish(A, enc("first"), { msgId: "run1.build.1" });
      await queue.publish(A, enc("second"), { msgId: "run1.build.1" });
      await queue.publish(A, enc("other"), { msgId: "run1.build.2" });
      assert.equal(await queue.depth(A), 2);
      await using r = reader(queue, [A], 3);
      const got = [await r.take(3000), await r.take(3000)];
      assert.deepEqual(
        got.map((m) => text(m.payload)),
        ["first", "other"],
      );
      assert.equal(await r.next(ACK_WAIT_MS / 2), undefined, "the repeated msgId was delivered");
      for (const m of got) m.ack();
    });

    test("two consumers of one pool share the jobs: each job to exactly one", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      const total = 20;
      for (let n = 0; n < total; n++) await queue.publish(A, enc(`job-${n}`));
      const seen: string[] = [];
      const perReader = [0, 0];
      const drain = async (index: number): Promise<void> => {
        await using r = reader(queue, [A], 4);
        for (;;) {
          const m = await r.next(QUIET_MS + 1000);
          if (!m) return;
          assert.equal(m.deliveryCount, 1, "a job was delivered twice");
          seen.push(text(m.payload));
          perReader[index] = (perReader[index] ?? 0) + 1;
          m.ack();
        }
      };
      await Promise.all([drain(0), drain(1)]);
      assert.equal(seen.length, total, `saw ${seen.length} deliveries`);
      assert.equal(new Set(seen).size, total, "a job was delivered to both consumers");
      assert.ok(
        perReader.every((n) => n > 0),
        `one consumer got nothing: ${perReader.join("/")}`,
      );
      await poll(async () => (await queue.depth(A)) === 0, { timeoutMs: 5000, what: "depth is 0" });
    });

    test("a consumer of several pools takes them in turn", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      for (const n of [1, 2]) await queue.publish(A, enc(`a${n}`));
      for (const n of [1, 2]) await queue.publish(B, enc(`b${n}`));
      await using r = reader(queue, [A, B], 4);
      const got = [await r.take(3000), await r.take(3000), await r.take(3000), await r.take(3000)];
      assert.deepEqual(
        new Set(got.slice(0, 2).map((m) => m.pool)),
        new Set([A, B]),
        "the first two came from one pool",
      );
      assert.deepEqual(got.map((m) => text(m.payload)).sort(), ["a1", "a2", "b1", "b2"]);
      for (const m of got) m.ack();
    });

    test(
      "a consumer of many pools gets a job back soon after nak, without a new publish",
      LIMIT,
      async () => {
        await using f = await open();
        const { queue } = f;
        const labels = ["a", "b", "c", "d", "e", "f"];
        const pools = Array.from({ length: 1 << labels.length }, (_, mask) =>
          poolName(labels.filter((_, i) => (mask & (1 << i)) !== 0)),
        );
        const target = poolName(["b", "d", "e"]);
        await queue.publish(target, enc("needle"));
        await using r = reader(queue, pools);
        const first = await r.take(5000, "the job among 64 pools");
        assert.equal(first.pool, target);
        const at = Date.now();
        first.nak();
        const again = await r.take(8000, "the naked job");
        assert.deepEqual([again.pool, again.deliveryCount], [target, 2]);
        assert.ok(Date.now() - at < 8000, `took ${Date.now() - at} ms: far from one pull per pool`);
        again.ack();
      },
    );

    test("a job published while a consumer waits is delivered to it", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await using r = reader(queue, [A, B]);
      assert.equal(await r.next(300), undefined);
      await queue.publish(B, enc("late"));
      const m = await r.take(3000);
      assert.deepEqual([m.pool, text(m.payload)], [B, "late"]);
      m.ack();
    });

    test("bad pools and options are refused with invalid_argument", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      await assert.rejects(queue.publish("a.b", enc("x")), isError("invalid_argument", "invalid pool"));
      await assert.rejects(queue.publish("", enc("x")), isError("invalid_argument"));
      await assert.rejects(queue.depth("a b"), isError("invalid_argument"));
      const signal = AbortSignal.timeout(5000);
      await assert.rejects(
        queue.consume([], { signal })[Symbol.asyncIterator]().next(),
        isError("invalid_argument"),
      );
      await assert.rejects(
        queue.consume([A], { signal, maxInFlight: 0 })[Symbol.asyncIterator]().next(),
        isError("invalid_argument", "maxInFlight"),
      );
    });

    test("close ends consumers and later calls fail with cancelled", LIMIT, async () => {
      await using f = await open();
      const { queue } = f;
      const controller = new AbortController();
      const it = queue.consume([A], { signal: controller.signal })[Symbol.asyncIterator]();
      const ended = it.next();
      await queue.close();
      assert.equal((await ended).done, true);
      await assert.rejects(queue.publish(A, enc("x")), isError("cancelled"));
      await queue.close();
    });
  });
}
