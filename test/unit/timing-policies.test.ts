/**
 * Time-based policies as functions of time, without waiting: S3 request backoff (jitter bounds
 * and cap), the stage retry backoff, and an agent going offline when its heartbeats stop (the
 * registry on its default clock, `Date.now`, driven by `mock.timers`). The end-to-end tests keep
 * real time for the same behaviour across processes.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { AgentRegistry } from "../../coordinator/testing.js";
import { defaultRetryBackoffMs } from "../../coordinator/testing.js";
import type { Heartbeat } from "../../shared/protocol/messages.js";
import { backoffMs } from "../../shared/store/testing.js";

void describe("S3 request backoff", () => {
  const policy = { retries: 6, baseMs: 100, maxMs: 2000 };

  void test("doubles per retry, with jitter between half and all of the full wait", () => {
    for (const [retry, full] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
      [4, 1600],
    ] as const) {
      assert.equal(
        backoffMs(retry, policy, () => 0),
        full / 2,
        `retry ${retry}, least jitter`,
      );
      assert.equal(
        backoffMs(retry, policy, () => 1),
        full,
        `retry ${retry}, most jitter`,
      );
      assert.equal(
        backoffMs(retry, policy, () => 0.5),
        Math.round(full * 0.75),
        `retry ${retry}, midway`,
      );
    }
  });

  void test("never waits longer than maxMs, however many retries", () => {
    for (const retry of [5, 6, 20, 1000])
      assert.equal(
        backoffMs(retry, policy, () => 1),
        2000,
        `retry ${retry}`,
      );
    assert.equal(
      backoffMs(1000, policy, () => 0),
      1000,
    );
  });
});

void describe("stage retry backoff", () => {
  void test("10 s after the first failure, doubling, capped at 10 minutes", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map(defaultRetryBackoffMs),
      [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000],
    );
  });
});

function heartbeat(agentId: string, running: Heartbeat["running"] = []): Heartbeat {
  return {
    v: 1,
    agentId,
    hostname: "h",
    labels: ["x86_64"],
    slots: 1,
    running,
    draining: false,
    diskFreeBytes: 1,
    version: "t",
    sentAt: 0,
  };
}

void describe("agent offline after its heartbeats stop (mock.timers)", () => {
  const T0 = Date.parse("2026-01-01T00:00:00Z");
  beforeEach(() => mock.timers.enable({ apis: ["Date"], now: T0 }));
  afterEach(() => mock.timers.reset());

  void test("online up to offlineAfterMs since the last heartbeat, offline one ms later", () => {
    const agents = new AgentRegistry(15_000); // its default clock: Date.now, here the mocked one
    agents.heartbeat(heartbeat("a1"));
    assert.equal(agents.get("a1")?.lastSeen, T0);
    mock.timers.tick(15_000);
    assert.ok(agents.isOnline("a1"));
    assert.equal(agents.get("a1")?.state, "idle");
    mock.timers.tick(1);
    assert.equal(agents.isOnline("a1"), false);
    assert.equal(agents.get("a1")?.state, "offline");
    assert.equal(agents.waitingReason(["x86_64"]), "no agent with labels x86_64");
  });

  void test("each heartbeat restarts the count; a busy agent that goes silent is offline, not busy", () => {
    const agents = new AgentRegistry(15_000);
    agents.heartbeat(heartbeat("a1", [{ runId: "r", stage: "s", dispatch: 1, token: "t" }]));
    for (let i = 0; i < 5; i++) {
      mock.timers.tick(10_000);
      agents.heartbeat(heartbeat("a1", [{ runId: "r", stage: "s", dispatch: 1, token: "t" }]));
    }
    assert.equal(agents.get("a1")?.state, "busy", "50 s of heartbeats 10 s apart: never offline");
    assert.equal(agents.waitingReason(["x86_64"]), "all matching agents busy (1 with labels x86_64)");
    mock.timers.tick(15_001);
    assert.equal(agents.get("a1")?.state, "offline");
    assert.deepEqual(agents.queuedReason(["x86_64"]), { kind: "no_matching_agent", matching: 0 });
  });
});
