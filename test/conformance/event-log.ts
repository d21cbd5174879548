/**
 * The EventLog conformance suite. Every implementation registers it with a factory making a
 * fresh, empty log whose unacked events are redelivered after `ackWaitMs`, a way to open the
 * same log again as a restarted process would, and a disposer removing everything it made:
 *
 *   eventLogConformance("memory", async ({ ackWaitMs }) => ({ log, reopen, [Symbol.asyncDispose]: ... }));
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import type { EventLog, LoggedEvent } from "../../shared/ports/index.js";
import { Reader, text, type SuiteTiming } from "./job-queue.js";

/** No test may hang the suite. */
const LIMIT = { timeout: 30_000 };

export interface EventLogFixture {
  log: EventLog;
  /** The same log, opened again as by a restarted process (for memory: the same object). */
  reopen(): Promise<EventLog>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type EventLogFactory = (opts: { ackWaitMs: number }) => Promise<EventLogFixture>;

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

function reader(log: EventLog, durable: string): Reader<LoggedEvent> {
  return new Reader((signal) => log.consume(durable, { signal }));
}

/** Reads and acks events until none came for `quietMs`. */
async function drain(r: Reader<LoggedEvent>, quietMs: number): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for (;;) {
    const e = await r.next(quietMs);
    if (!e) return out;
    out.push(e);
    e.ack();
  }
}

const show = (e: LoggedEvent): string => `${e.subject}:${text(e.payload)}`;

export function eventLogConformance(name: string, factory: EventLogFactory, timing: SuiteTiming = {}): void {
  /** Redelivery time of the implementation under test. */
  const ACK_WAIT_MS = timing.ackWaitMs ?? 1000;
  /** How long "nothing more comes" is watched for. */
  const QUIET_MS = timing.quietMs ?? 1500;
  const open = (): Promise<EventLogFixture> => factory({ ackWaitMs: ACK_WAIT_MS });

  describe(`EventLog conformance: ${name}`, () => {
    test("events come in append order, per subject and overall, with growing seq", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      for (let n = 0; n < 10; n++) {
        await log.append("agent.a1.stage.progress", enc(`a${n}`));
        await log.append("agent.a2.stage.progress", enc(`b${n}`));
      }
      await using r = reader(log, "coordinator");
      const got = await drain(r, QUIET_MS);
      assert.equal(got.length, 20);
      const seqs = got.map((e) => e.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        "seq does not grow",
      );
      assert.equal(new Set(seqs).size, 20);
      for (const [subject, letter] of [
        ["agent.a1.stage.progress", "a"],
        ["agent.a2.stage.progress", "b"],
      ] as const)
        assert.deepEqual(
          got.filter((e) => e.subject === subject).map((e) => text(e.payload)),
          Array.from({ length: 10 }, (_, n) => `${letter}${n}`),
        );
    });

    test("a durable resumes where it stopped: only unacked events come again", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      for (let n = 1; n <= 6; n++) await log.append(`run.r1.event`, enc(`e${n}`));
      {
        await using r = reader(log, "coordinator");
        const first: LoggedEvent[] = [];
        for (let n = 0; n < 6; n++) first.push(await r.take(3000));
        assert.deepEqual(
          first.map((e) => text(e.payload)),
          ["e1", "e2", "e3", "e4", "e5", "e6"],
        );
        for (const n of [0, 1, 3]) first[n]?.ack();
      }
      await using again = reader(log, "coordinator");
      const second = await drain(again, ACK_WAIT_MS + QUIET_MS);
      assert.deepEqual(
        second.map((e) => text(e.payload)),
        ["e3", "e5", "e6"],
      );
      assert.ok(second.every((e) => e.subject === "run.r1.event"));
      assert.equal(await again.next(ACK_WAIT_MS * 2), undefined, "an acked event came back");
    });

    test("a restarted process resumes the same durable", LIMIT, async () => {
      const f = await open();
      try {
        for (let n = 1; n <= 3; n++) await f.log.append("agent.a1.finished", enc(`f${n}`));
        {
          await using r = reader(f.log, "coord");
          (await r.take(3000)).ack();
          await r.take(3000); // delivered, never acked: the process "dies" here
        }
        const log = await f.reopen();
        await using r = reader(log, "coord");
        const resumed = await drain(r, ACK_WAIT_MS + QUIET_MS);
        // f3 was never delivered and may come first; redelivered f2 follows its ack wait.
        resumed.sort((x, y) => x.seq - y.seq);
        assert.deepEqual(resumed.map(show), ["agent.a1.finished:f2", "agent.a1.finished:f3"]);
      } finally {
        await f[Symbol.asyncDispose]();
      }
    });

    test("every durable sees every event", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      await log.append("x.one", enc("1"));
      await using a = reader(log, "reader-a");
      const firstA = await a.take(3000);
      assert.equal(text(firstA.payload), "1");
      firstA.ack();
      await log.append("x.two", enc("2"));
      await using b = reader(log, "reader-b");
      const gotB = await drain(b, QUIET_MS);
      assert.deepEqual(gotB.map(show), ["x.one:1", "x.two:2"]);
      const nextA = await a.take(3000, "the live event");
      assert.equal(show(nextA), "x.two:2");
      nextA.ack();
    });

    test("a repeated msgId within the dedupe window is stored once", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      await log.append("agent.a1.finished", enc("once"), { msgId: "r1.build.1.finished" });
      await log.append("agent.a1.finished", enc("twice"), { msgId: "r1.build.1.finished" });
      await log.append("agent.a1.finished", enc("other"), { msgId: "r1.build.2.finished" });
      await using r = reader(log, "coordinator");
      assert.deepEqual(
        (await drain(r, QUIET_MS)).map((e) => text(e.payload)),
        ["once", "other"],
      );
    });

    test("bad subjects and durable names are refused with invalid_argument", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      await assert.rejects(log.append("a..b", enc("x")), isError("invalid_argument", "event subject"));
      await assert.rejects(log.append("a.*", enc("x")), isError("invalid_argument"));
      const signal = AbortSignal.timeout(5000);
      await assert.rejects(
        log.consume("a.b", { signal })[Symbol.asyncIterator]().next(),
        isError("invalid_argument", "durable"),
      );
    });

    test("close ends readers and later calls fail with cancelled", LIMIT, async () => {
      await using f = await open();
      const { log } = f;
      const it = log.consume("coordinator", { signal: new AbortController().signal })[Symbol.asyncIterator]();
      await log.append("a.b", enc("1"));
      assert.equal((await it.next()).done, false);
      const ended = it.next();
      await log.close();
      assert.equal((await ended).done, true);
      await assert.rejects(log.append("a.b", enc("2")), isError("cancelled"));
      await log.close();
    });
  });
}
