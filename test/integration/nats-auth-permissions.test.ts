/**
 * Identity under the shipped NATS permissions: an agent (build-1, its own nkey) that tries to
 * speak as another agent is refused by nats-server (claims, heartbeats, events, live logs and
 * binhost requests on build-2's subjects; build-2's control and inbox, pools it lacks, KV and
 * stream management), the refusal surfacing as an error in the client; and what it may send on
 * its own subjects while naming build-2 (or claiming a job it never received) reaches the
 * coordinator only to be rejected, counted in `stagefarm_messages_rejected_total{reason}` and
 * logged, while the real build-2 runs its stage undisturbed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Events, type NatsConnection } from "nats";
import { AgentConnection } from "../../cli/farm-connection.js";
import { StagefarmError } from "../../shared/errors.js";
import { kvBucketName } from "../../shared/nats/index.js";
import { jobConsumerName, jobStreamName } from "../../shared/nats/testing.js";
import { claimReplySchema, decodeMessage, encodeMessage } from "../../shared/protocol/messages.js";
import { binhostPublishReplySchema } from "../../shared/protocol/binhost.js";

import { AuthFarm } from "../helpers/nats-auth-farm.js";
import { poll } from "../helpers/poll.js";

const LIMIT = { timeout: 120_000 };

/** Collects the connection's asynchronous errors (permission violations of publishes and subscriptions). */
function asyncErrors(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status())
      if (s.type === Events.Error) seen.push(typeof s.data === "string" ? s.data : JSON.stringify(s.data));
  })();
  return seen;
}

function heartbeat(agentId: string): Uint8Array {
  return encodeMessage({
    v: 1,
    agentId,
    hostname: "h",
    labels: ["x86_64"],
    slots: 1,
    running: [],
    draining: false,
    diskFreeBytes: 1,
    version: "forged",
    sentAt: Date.now(),
  });
}

function finished(agentId: string, runId: string): Uint8Array {
  return encodeMessage({
    t: "finished",
    v: 1,
    agentId,
    runId,
    stage: "cat",
    dispatch: 1,
    token: "0".repeat(32),
    at: Date.now(),
    result: { ok: true, outputs: {}, logPath: "logs/x", durationMs: 1 },
  });
}

const CATALYST = `pipeline: guarded
stages:
  cat:
    runner: shell
    requires: [catalyst]
    script: mkdir -p out && echo built-by-the-real-agent > out/x
    outputs: { x: out/x }
`;

describe("agent identity under the shipped NATS permissions", () => {
  test("nats-server refuses an agent publishing or subscribing as another agent", LIMIT, async () => {
    await using farm = await AuthFarm.start();
    await using a1 = await AgentConnection.open(
      AuthFarm.config(farm.nats, farm.s3, "build-1"),
      "build-1",
      farm.logger,
    );
    const nc = a1.nc;
    const errors = asyncErrors(nc);
    const b2 = farm.conn.subjects; // the coordinator's view of every subject
    const violation = (subject: string): RegExp =>
      new RegExp(
        `Permissions Violation for (Publish|Subscription) to "${subject.replace(/[.*$>]/g, "\\$&")}"`,
      );

    // Request/reply as build-2: the request fails with the server's refusal.
    for (const subject of [
      b2.claim("build-2"),
      `sf.binhost.publish.build-2`,
      `sf.binhost.conf.build-2`,
      "sf.binhost.publish",
    ])
      await assert.rejects(
        a1.bus.request(subject, encodeMessage({ v: 1, agentId: "build-2" }), { timeoutMs: 5_000 }),
        (err: unknown) => err instanceof StagefarmError && violation(subject).test(err.message),
        subject,
      );
    // Events as build-2 (a JetStream publish): refused.
    await assert.rejects(a1.events.append("build-2", finished("build-2", "r1")), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "invalid_argument");
      assert.match(err.message, violation("sf.events.build-2"));
      return true;
    });
    // Fire-and-forget publishes as build-2: refused, reported asynchronously.
    nc.publish(b2.heartbeat("build-2"), heartbeat("build-2"));
    nc.publish(b2.agentLogs("build-2", "r1", "cat"), new TextEncoder().encode("forged log line\n"));
    // Receiving what is build-2's, or another pool's jobs, or everyone's heartbeats: refused.
    for (const subject of [
      b2.control("build-2"),
      "_INBOX.sf.agent.build-2.>",
      b2.jobs("catalyst"),
      b2.heartbeats,
      "sf.>",
    ])
      nc.subscribe(subject, { callback: () => undefined });
    await nc.flush();
    // build-1's own heartbeat, sent after the forged one on the same connection, reaches the
    // coordinator: by then the forged one would have too.
    nc.publish(b2.heartbeat("build-1"), heartbeat("build-1"));
    await poll(() => farm.coordinator.agents.get("build-1"), {
      timeoutMs: 10_000,
      what: "build-1's heartbeat",
      intervalMs: 100,
    });
    assert.equal(farm.coordinator.agents.get("build-2"), undefined, "the forged heartbeat never arrived");
    await poll(() => (errors.length >= 7 ? true : undefined), {
      timeoutMs: 10_000,
      what: `7 asynchronous refusals, got ${errors.join(", ")}`,
      intervalMs: 100,
    });
    assert.ok(
      errors.every((e) => e === "PERMISSIONS_VIOLATION"),
      errors.join(", "),
    );

    // JetStream: another pool's consumer, stream management, the coordinator's KV and events.
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const jobs = jobStreamName("sf");
    for (const [what, op] of [
      ["the catalyst pool's consumer", () => js.consumers.get(jobs, jobConsumerName("sf", "catalyst"))],
      ["deleting the job stream", () => jsm.streams.delete(jobs)],
      ["a consumer on the event stream", () => jsm.consumers.add("SF_EVENTS", { durable_name: "spy" })],
      ["the KV bucket", () => jsm.streams.info(`KV_${kvBucketName("sf")}`)],
    ] as const)
      await assert.rejects(op(), /PERMISSIONS_VIOLATION|Permissions Violation/, what);

    const logged = farm.violations().join("\n");
    for (const subject of [
      "sf.claim.build-2",
      "sf.events.build-2",
      "sf.hb.build-2",
      "sf.logs.build-2.r1.cat",
    ])
      assert.ok(
        logged.includes(`Publish Violation - Nkey`) && logged.includes(`Subject "${subject}"`),
        subject,
      );
    assert.match(logged, /Subscription Violation - Nkey "U[A-Z2-7]+", Subject "sf\.control\.build-2"/);
    assert.equal(
      await farm.metric("stagefarm_messages_rejected_total"),
      0,
      "nothing forged reached the coordinator",
    );
  });

  test("a forged message on an agent's own subjects is rejected, counted and logged", LIMIT, async () => {
    await using farm = await AuthFarm.start();
    await using a1 = await AgentConnection.open(
      AuthFarm.config(farm.nats, farm.s3, "build-1"),
      "build-1",
      farm.logger,
    );
    const s = a1.subjects;
    const rejected = (reason: string): Promise<number> =>
      farm.metric("stagefarm_messages_rejected_total", { reason });

    // A catalyst stage waits for an agent with that label; build-1 may not read its pool.
    const doc = await farm.coordinator.submit({ yaml: CATALYST, path: "guarded.yaml", params: {} });
    await poll(
      async () => ((await farm.coordinator.worker.record(doc.id, "cat"))?.t === "queued" ? true : undefined),
      { timeoutMs: 10_000, what: "the catalyst stage to be queued", intervalMs: 100 },
    );

    // Heartbeat naming build-2 on build-1's subject.
    a1.bus.publish(s.heartbeat("build-1"), heartbeat("build-2"));
    await poll(async () => ((await rejected("identity_mismatch")) >= 1 ? true : undefined), {
      timeoutMs: 10_000,
      what: "a rejected heartbeat",
      intervalMs: 100,
    });
    assert.equal(farm.coordinator.agents.get("build-2"), undefined);

    // Claim naming build-2; then a claim as itself of a job it never received (no ticket).
    const claim = async (agentId: string): Promise<unknown> => {
      const raw = await a1.bus.request(
        s.claim("build-1"),
        encodeMessage({ v: 1, agentId, runId: doc.id, stage: "cat", dispatch: 1 }),
        { timeoutMs: 5_000 },
      );
      const reply = decodeMessage(claimReplySchema, raw);
      assert.ok(reply.ok);
      return reply.value;
    };
    assert.deepEqual(await claim("build-2"), {
      ok: false,
      reason: "a claim on sf.claim.build-1 may not name build-2",
    });
    assert.deepEqual(await claim("build-1"), {
      ok: false,
      reason: "the claim does not carry the job's ticket",
    });
    assert.equal(await rejected("bad_ticket"), 1);
    assert.equal((await farm.coordinator.worker.record(doc.id, "cat"))?.t, "queued", "the job was not taken");

    // A result naming build-2 on build-1's event subject.
    await a1.events.append("build-1", finished("build-2", doc.id));
    await poll(async () => ((await rejected("identity_mismatch")) >= 3 ? true : undefined), {
      timeoutMs: 10_000,
      what: "a rejected event",
      intervalMs: 100,
    });

    // A binhost publication naming build-2 as the publisher.
    const raw = await a1.bus.request(
      s.binhostPublish,
      encodeMessage({
        v: 1,
        binhost: "amd64",
        packages: [{ digest: "a".repeat(64), size: 1, agent: "build-2" }],
      }),
      { timeoutMs: 5_000 },
    );
    const reply = decodeMessage(binhostPublishReplySchema, raw);
    assert.ok(reply.ok && !reply.value.ok);
    assert.equal(reply.value.error.code, "invalid_argument");
    assert.match(reply.value.error.message, /names agent build-2 as a publisher but was sent by build-1/);

    // Garbage on its own heartbeat subject.
    a1.bus.publish(s.heartbeat("build-1"), new TextEncoder().encode("{not json"));
    await poll(async () => ((await rejected("malformed")) >= 1 ? true : undefined), {
      timeoutMs: 10_000,
      what: "a malformed heartbeat",
      intervalMs: 100,
    });

    assert.equal(await rejected("identity_mismatch"), 4);
    assert.equal(await rejected("no_identity"), 0);
    assert.equal(
      await farm.metric("stagefarm_stale_results_total"),
      0,
      "the forged result never reached the lease check",
    );
    const lines = farm.coordinatorLog.filter(
      (r) => r["component"] === "message-guard" || r["reason"] === "bad_ticket",
    );
    assert.ok(
      lines.some(
        (r) =>
          r["reason"] === "identity_mismatch" &&
          r["sender"] === "build-1" &&
          r["claimed"] === "build-2" &&
          /rejected a heartbeat from agent build-1 naming agent build-2: .*check that agent's --id matches its NATS user/.test(
            String(r["msg"]),
          ),
      ),
      JSON.stringify(lines, null, 1),
    );
    assert.ok(
      lines.some((r) => r["reason"] === "bad_ticket" && /without the job's ticket/.test(String(r["msg"]))),
    );

    // The real build-2 then runs the stage: nothing forged changed it.
    await farm.startAgent("build-2");
    await farm.coordinator.settled(doc.id);
    const run = await farm.coordinator.getRun(doc.id);
    assert.equal(run.status, "succeeded");
    const rec = await farm.coordinator.worker.record(doc.id, "cat");
    assert.equal(rec?.t === "finished" ? rec.owner : undefined, "build-2");
    assert.deepEqual(farm.violations(), [], "everything above was allowed by the server");
  });

  test("an agent with labels beyond its user's pools serves only the pools it may pull", LIMIT, async () => {
    await using farm = await AuthFarm.start();
    await farm.startAgent("build-1", ["catalyst", "x86_64"]); // its user block has x86_64 only
    const yaml = `${CATALYST}  plain:
    runner: shell
    script: mkdir -p out && echo plain > out/p
    outputs: { p: out/p }
`;
    const doc = await farm.coordinator.submit({ yaml, path: "guarded.yaml", params: {} });
    await poll(
      async () =>
        (await farm.coordinator.worker.record(doc.id, "plain"))?.t === "finished" ? true : undefined,
      { timeoutMs: 30_000, what: "build-1 to run the plain stage", intervalMs: 100 },
    );
    await poll(() => (farm.violations().some((l) => l.includes("sf_jobs_catalyst")) ? true : undefined), {
      timeoutMs: 10_000,
      what: "build-1 to be refused the catalyst pool",
      intervalMs: 100,
    });
    assert.equal(
      (await farm.coordinator.worker.record(doc.id, "cat"))?.t,
      "queued",
      "the catalyst job waits",
    );
    await farm.startAgent("build-2");
    await farm.coordinator.settled(doc.id);
    assert.equal((await farm.coordinator.getRun(doc.id)).status, "succeeded");
    const owner = async (stage: string): Promise<string | undefined> => {
      const rec = await farm.coordinator.worker.record(doc.id, stage);
      return rec?.t === "finished" ? rec.owner : undefined;
    };
    assert.equal(await owner("plain"), "build-1");
    assert.equal(await owner("cat"), "build-2");
    const refusals = farm
      .violations()
      .filter((l) => l.includes('"$JS.API.CONSUMER.INFO.SF_JOBS.sf_jobs_catalyst"'));
    assert.equal(refusals.length, 1, `build-1 gave up the pool after one refusal:\n${refusals.join("\n")}`);
  });
});
