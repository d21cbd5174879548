/**
 * The coordinator's MessageGuard on the in-process bus: a payload naming another agent than its
 * subject is rejected and counted by reason; binhost requests reach the service only bound to
 * their sender; rejections are logged once per agent and reason every 10 s, with the number
 * left out; the in-process bus serves request patterns like NATS.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { pino } from "pino";
import { MessageGuard, type RejectReason } from "../../coordinator/testing.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { decodeMessage, encodeMessage } from "../../shared/protocol/messages.js";
import { binhostPublishReplySchema } from "../../shared/protocol/binhost.js";
import { subjects } from "../../shared/protocol/subjects.js";

function setup(): {
  guard: MessageGuard;
  counts: Map<RejectReason, number>;
  logs: Array<Record<string, unknown>>;
  clock: { now: number };
} {
  const counts = new Map<RejectReason, number>();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
      done();
    },
  });
  const clock = { now: 1_000_000 };
  const guard = new MessageGuard(
    subjects("sf"),
    pino({ level: "warn" }, sink),
    { messageRejected: (r) => counts.set(r, (counts.get(r) ?? 0) + 1) },
    () => clock.now,
  );
  return { guard, counts, logs, clock };
}

describe("MessageGuard", () => {
  test("binds a message to the agent of its subject", () => {
    const { guard, counts, logs } = setup();
    assert.equal(guard.bind("heartbeat", "sf.hb.a1", "a1"), true);
    assert.equal(guard.bind("heartbeat", "sf.hb.a1", "a2"), false);
    assert.equal(guard.bind("claim", "sf.claim", "a1"), false);
    guard.malformed("event", "sf.events.a1", "not JSON");
    assert.deepEqual(Object.fromEntries(counts), { identity_mismatch: 1, no_identity: 1, malformed: 1 });
    const mismatch = logs.find((l) => l["reason"] === "identity_mismatch");
    assert.equal(mismatch?.["sender"], "a1");
    assert.equal(mismatch?.["claimed"], "a2");
    assert.match(String(mismatch?.["msg"]), /^rejected a heartbeat from agent a1 naming agent a2: /);
  });

  test("logs a rejection once per agent and reason every 10 s, counting every one", () => {
    const { guard, counts, logs, clock } = setup();
    for (let i = 0; i < 50; i++) guard.bind("heartbeat", "sf.hb.a1", "a2");
    assert.equal(logs.length, 1);
    guard.bind("heartbeat", "sf.hb.a3", "a2"); // another sender: its own line
    assert.equal(logs.length, 2);
    clock.now += 10_000;
    guard.bind("heartbeat", "sf.hb.a1", "a2");
    assert.equal(logs.length, 3);
    assert.equal(logs[2]?.["suppressed"], 49);
    assert.equal(counts.get("identity_mismatch"), 52);
  });

  test("binhost requests reach the service bound to their sender", async () => {
    const { guard, counts } = setup();
    const bus = new MemoryBus();
    const seen: unknown[] = [];
    guard.binhostBus(bus).serve("sf.binhost.publish.*", (data) => {
      seen.push(JSON.parse(new TextDecoder().decode(data)));
      return Promise.resolve(
        encodeMessage({ ok: false, error: { code: "internal", message: "stub", details: {} } }),
      );
    });
    const ask = async (subject: string, packages: unknown[]): Promise<string> => {
      const raw = await bus.request(subject, encodeMessage({ v: 1, binhost: "amd64", packages }), {
        timeoutMs: 1000,
      });
      const reply = decodeMessage(binhostPublishReplySchema, raw);
      assert.ok(reply.ok && !reply.value.ok);
      return reply.value.error.message;
    };
    const digest = "a".repeat(64);
    assert.equal(
      await ask("sf.binhost.publish.a1", [
        { digest, size: 1 },
        { digest, size: 2, agent: "a1" },
      ]),
      "stub",
    );
    assert.deepEqual(seen, [
      {
        v: 1,
        binhost: "amd64",
        packages: [
          { digest, size: 1, agent: "a1" },
          { digest, size: 2, agent: "a1" },
        ],
      },
    ]);
    assert.match(
      await ask("sf.binhost.publish.a1", [{ digest, size: 1, agent: "a2" }]),
      /names agent a2 as a publisher but was sent by a1/,
    );
    assert.equal(seen.length, 1, "the forged request never reached the service");
    assert.equal(counts.get("identity_mismatch"), 1);
    await bus.close();
  });
});
