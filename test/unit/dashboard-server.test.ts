/**
 * The dashboard server's pure parts: resuming the event sequence, byte ranges, the bounded
 * live log tail, attempts rebuilt from a run document and a dispatch record.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AttemptOutcome, StageState } from "../../proto/gen/stagefarm/v1/run_pb.js";
import {
  EventHub,
  RING_SIZE,
  LiveLogs,
  TAIL_BYTES,
  parseRange,
  buildStage,
  type RunShape,
} from "../../coordinator/testing.js";
import type { RunEvent } from "../../coordinator/index.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { subjects } from "../../shared/protocol/subjects.js";

describe("event hub", () => {
  test("resumes after an id of its own epoch, not after a foreign or forgotten one", () => {
    const hub = new EventHub(1000);
    const a = hub.publish("run", "r1", "stage", { n: 1 });
    hub.publish("global", "r1", "run", { n: 2 });
    const c = hub.publish("run", "r1", "stage", { n: 3 });
    assert.equal(hub.resumeFrom(hub.id(a.seq)), a.seq);
    assert.deepEqual(
      hub.after(a.seq, (e) => e.scope === "run").map((e) => e.seq),
      [c.seq],
    );
    assert.equal(hub.resumeFrom(undefined), undefined);
    assert.equal(hub.resumeFrom(new EventHub(2000).id(1)), undefined, "another process's id");
    assert.equal(hub.resumeFrom(hub.id(99)), undefined, "an id from the future");
    assert.equal(hub.resumeFrom("garbage"), undefined);
    for (let i = 0; i < RING_SIZE; i++) hub.publish("run", "r2", "stage", {});
    assert.equal(hub.resumeFrom(hub.id(a.seq)), undefined, "its events left the ring");
    assert.equal(hub.resumeFrom(hub.id(hub.current - 5)), hub.current - 5);
  });
});

describe("byte ranges", () => {
  test("parses what browsers send", () => {
    assert.deepEqual(parseRange("bytes=0-9", 100), [0, 10]);
    assert.deepEqual(parseRange("bytes=90-", 100), [90, 100]);
    assert.deepEqual(parseRange("bytes=-30", 100), [70, 100]);
    assert.deepEqual(parseRange("bytes=-300", 100), [0, 100]);
    assert.deepEqual(parseRange("bytes=50-500", 100), [50, 100]);
    assert.equal(parseRange("bytes=100-", 100), "unsatisfiable");
    assert.equal(parseRange("bytes=-0", 100), "unsatisfiable");
    assert.equal(parseRange(undefined, 100), undefined);
    assert.equal(parseRange("bytes=1-2,5-6", 100), undefined, "several ranges: the whole log");
    assert.equal(parseRange("items=1-2", 100), undefined);
  });
});

describe("live log tail", () => {
  test("keeps only the newest bytes of a huge log, with their offsets", async () => {
    const bus = new MemoryBus();
    const subj = subjects("t");
    const listeners = new Set<(e: RunEvent) => void>();
    const live = new LiveLogs(bus, subj, (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    });
    try {
      for (const l of listeners)
        l({
          t: "stage",
          runId: "r1",
          pipeline: "p",
          stage: "s",
          status: { t: "running", key: "k", attempt: 1, startedAt: 0 },
        });
      const chunk = new Uint8Array(64 << 10).fill(97);
      const total = 50 << 20;
      // Agents publish on their own subject; watchers match any agent (the subject's last two tokens).
      const subject = subj.logs("r1", "s").replace("*", "agent-1");
      for (let sent = 0; sent < total; sent += chunk.length) bus.publish(subject, chunk);
      bus.publish(subject, new TextEncoder().encode("THE END\n"));
      await new Promise((r) => setImmediate(r));
      const log = live.get("r1", "s");
      assert.ok(log !== undefined);
      assert.equal(log.end, total + 8);
      assert.ok(log.end - log.start <= TAIL_BYTES, "holds no more than the tail");
      const held = log.chunks.reduce((a, c) => a + c.length, 0);
      assert.equal(held, log.end - log.start);
      const tail = live.read(log, log.end - 8, 100);
      assert.equal(tail.offset, total);
      assert.equal(new TextDecoder().decode(tail.data), "THE END\n");
      const old = live.read(log, 0, 10);
      assert.equal(old.offset, log.start, "what left the tail is skipped");
    } finally {
      live.close();
      await bus.close();
    }
  });
});

describe("attempts from a run document", () => {
  const shape: RunShape = {
    names: ["s"],
    runner: new Map([["s", "shell"]]),
    deps: new Map([["s", []]]),
    requires: new Map([["s", []]]),
  };

  test("a stage that failed once, then succeeded on another agent", () => {
    const m = buildStage(
      "r1",
      "s",
      { state: "done", key: "k", attempt: 2, durationMs: 500, outputs: {}, logPath: "logs/r1/s/2.log" },
      shape,
      {
        record: {
          t: "finished",
          dispatch: 3,
          attempt: 2,
          pool: "any",
          requires: [],
          job: {
            v: 1,
            runId: "r1",
            stage: {},
            stageName: "s",
            key: "a".repeat(64),
            inputs: {},
            attempt: 2,
            dispatch: 3,
            jobs: 1,
          },
          owner: "agent-b",
          result: { ok: true, outputs: {}, logPath: "logs/r1/s/2.log", durationMs: 500 },
          finishedAt: 10_000,
        },
        journal: new Map([
          [
            1,
            {
              number: 1,
              agent: "agent-a",
              startedAtMs: 1000,
              finishedAtMs: 2000,
              outcome: AttemptOutcome.FAILED,
              error: "exit 1",
            },
          ],
        ]),
      },
    );
    assert.equal(m.state, StageState.DONE);
    assert.equal(m.agent, "agent-b");
    assert.deepEqual(
      m.attempts.map((a) => [a.number, a.agent, a.outcome, a.error, a.logPath]),
      [
        [1, "agent-a", AttemptOutcome.FAILED, "exit 1", "logs/r1/s/1.log"],
        [2, "agent-b", AttemptOutcome.SUCCEEDED, "", "logs/r1/s/2.log"],
      ],
    );
    const second = m.attempts[1];
    assert.equal(Number(second?.startedAt?.seconds), 9, "started = finished − duration");
    assert.equal(Number(second?.finishedAt?.seconds), 10);
  });

  test("a stage in retry backoff shows only the attempts that ran; a cancelled one its last", () => {
    const ready = buildStage(
      "r1",
      "s",
      { state: "ready", key: "k", attempt: 3, reason: "retry backoff until …" },
      shape,
    );
    assert.deepEqual(
      ready.attempts.map((a) => [a.number, a.outcome]),
      [
        [1, AttemptOutcome.FAILED],
        [2, AttemptOutcome.FAILED],
      ],
    );
    const cached = buildStage("r1", "s", { state: "cached", key: "k", outputs: {}, durationMs: 0 }, shape);
    assert.equal(cached.attempts.length, 0);
    const failed = buildStage(
      "r1",
      "s",
      {
        state: "failed",
        key: "k",
        attempt: 1,
        durationMs: 5,
        error: { code: "timeout", message: "timed out after 1s" },
      },
      shape,
    );
    assert.equal(failed.attempts[0]?.outcome, AttemptOutcome.TIMED_OUT);
    assert.equal(failed.attempts[0]?.error, "timed out after 1s");
  });
});
