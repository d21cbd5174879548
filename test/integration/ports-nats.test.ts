/**
 * The NATS JetStream ports (KV, job queue, event log) against their conformance suites on a
 * real nats-server (fresh names per test), plus what only a server can do: restart under a
 * running client without losing jobs, values or events, and the client resuming by itself.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { nanos, RetentionPolicy, StorageType, type NatsConnection } from "nats";
import { pino } from "pino";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { connectNats, NatsEventLog, NatsJobQueue, NatsKvStore } from "../../shared/nats/index.js";
import {
  ensureStream,
  eventStreamName,
  jobConsumerName,
  jobStreamName,
  parseNatsUrl,
  redactNatsUrl,
} from "../../shared/nats/testing.js";
import type { KvChange, LoggedEvent, QueueMessage } from "../../shared/ports/index.js";
import { eventLogConformance } from "../conformance/event-log.js";
import { jobQueueConformance, Reader, text } from "../conformance/job-queue.js";
import { kvConformance } from "../conformance/kv.js";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { poll } from "../helpers/poll.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const fresh = (): string => `t${randomBytes(5).toString("hex")}`;
const LIMIT = { timeout: 60_000 };

let server: NatsServerHandle | undefined;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server?.[Symbol.asyncDispose]();
});

function url(): string {
  assert.ok(server, "nats-server did not start");
  return server.url;
}

const connect = (name: string): Promise<NatsConnection> =>
  connectNats(url(), { name, logger: silentLogger(), connectTimeoutMs: 10_000 });

kvConformance("nats", async () => {
  const nc = await connect("kv-test");
  const store = await NatsKvStore.open(nc, fresh());
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await nc.close();
    },
  };
});

jobQueueConformance("nats", async ({ ackWaitMs }) => {
  const nc = await connect("queue-test");
  // Pulls that end in step with the ack wait (both 1 s by default) put every redelivery on the
  // boundary where nats.js's fetch gives up 5 % after the server's expiry: on a loaded machine
  // the server can still hold the expired pull and hand the redelivery to an inbox nobody reads
  // (it then comes back one ack wait later as delivery 3). The suite checks the queue's contract,
  // not that race, so the pulls here are kept out of step with the ack wait.
  const queue = await NatsJobQueue.open(nc, { prefix: fresh(), ackWaitMs, pullExpiresMs: 1700 });
  return {
    queue,
    async [Symbol.asyncDispose]() {
      await queue.close();
      await nc.close();
    },
  };
});

eventLogConformance("nats", async ({ ackWaitMs }) => {
  const prefix = fresh();
  const conns: NatsConnection[] = [];
  const logs: NatsEventLog[] = [];
  const openLog = async (): Promise<NatsEventLog> => {
    const nc = await connect("events-test");
    conns.push(nc);
    const log = await NatsEventLog.open(nc, { prefix, ackWaitMs });
    logs.push(log);
    return log;
  };
  const log = await openLog();
  return {
    log,
    reopen: openLog,
    async [Symbol.asyncDispose]() {
      for (const l of logs) await l.close();
      for (const nc of conns) await nc.close();
    },
  };
});

describe("NATS server restart under running clients", () => {
  test(
    "queued jobs and KV values survive; consumption, a watch and an event reader resume",
    LIMIT,
    async () => {
      await using nats = await startNatsServer();
      const nc = await connectNats(nats.url, { name: "restart-test", logger: silentLogger() });
      try {
        const kv = await NatsKvStore.open(nc, fresh());
        const queue = await NatsJobQueue.open(nc, {
          prefix: fresh(),
          ackWaitMs: 2000,
          logger: silentLogger(),
        });
        const events = await NatsEventLog.open(nc, { prefix: fresh(), ackWaitMs: 2000 });
        const r1 = await kv.create("runs.r1", enc("running"));
        for (const n of [1, 2, 3]) await queue.publish("any", enc(`job${n}`));

        await using jobs = new Reader<QueueMessage>(
          (signal) => queue.consume(["any"], { signal }),
          (m) => m.nak(),
        );
        await using watch = new Reader<KvChange>((signal) => kv.watch("runs", { signal }));
        await using reader = new Reader<LoggedEvent>((signal) => events.consume("coordinator", { signal }));
        const j1 = await jobs.take(5000);
        assert.equal(text(j1.payload), "job1");
        j1.ack();
        await poll(async () => (await queue.depth("any")) === 2, { timeoutMs: 5000, what: "job1 is gone" });
        assert.equal((await watch.take(5000)).key, "runs.r1");
        await events.append("agent.a1", enc("before"));
        const e1 = await reader.take(5000);
        assert.equal(text(e1.payload), "before");
        e1.ack();

        await nats.restart();

        // The same iterators go on by themselves once the client has reconnected.
        const j2 = await jobs.take(20_000, "job2 after the restart");
        j2.ack();
        const j3 = await jobs.take(10_000, "job3");
        assert.deepEqual(
          [j2, j3].map((m) => text(m.payload)),
          ["job2", "job3"],
        );
        j3.ack();
        await queue.publish("any", enc("job4"));
        const j4 = await jobs.take(10_000, "a job published after the restart");
        assert.equal(text(j4.payload), "job4");
        j4.ack();

        const got = await kv.get("runs.r1");
        assert.deepEqual([got && text(got.value), got?.revision], ["running", r1]);
        const r2 = await kv.update("runs.r1", enc("done"), r1);
        const change = await watch.take(10_000, "the watch to see a write after the restart");
        assert.deepEqual([change.op, change.key, change.revision], ["put", "runs.r1", r2]);

        await events.append("agent.a1", enc("after"));
        const e2 = await reader.take(10_000, "an event appended after the restart");
        assert.equal(text(e2.payload), "after");
        e2.ack();
        await poll(async () => (await queue.depth("any")) === 0, {
          timeoutMs: 5000,
          what: "every job is acked",
        });
      } finally {
        await nc.close();
      }
    },
  );

  test("SIGKILL then restart keeps what was acknowledged", LIMIT, async () => {
    await using nats = await startNatsServer();
    const prefix = fresh();
    const bucket = fresh();
    {
      const nc = await connectNats(nats.url, { name: "before-kill", logger: silentLogger() });
      const kv = await NatsKvStore.open(nc, bucket);
      const queue = await NatsJobQueue.open(nc, { prefix });
      await kv.create("stages.r1.build", enc("queued(1)"));
      await queue.publish("x86_64", enc("build"), { msgId: "r1.build.1" });
      await nc.close();
    }
    await nats.kill();
    await nats.restart();
    const nc = await connectNats(nats.url, { name: "after-kill", logger: silentLogger() });
    try {
      const kv = await NatsKvStore.open(nc, bucket);
      const queue = await NatsJobQueue.open(nc, { prefix });
      assert.equal(text((await kv.get("stages.r1.build"))?.value ?? new Uint8Array()), "queued(1)");
      assert.equal(await queue.depth("x86_64"), 1);
      await queue.publish("x86_64", enc("build"), { msgId: "r1.build.1" });
      assert.equal(await queue.depth("x86_64"), 1, "the dedupe window was lost with the restart");
    } finally {
      await nc.close();
    }
  });
});

describe("connectNats", () => {
  test("takes credentials from the URL and never logs them", LIMIT, async () => {
    await using nats = await startNatsServer({ user: "agent-7", pass: "pa55/word" });
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
    const nc = await connectNats(nats.url, { name: "creds-test", logger });
    try {
      await nc.flush();
      await nats.restart();
      await poll(() => Promise.resolve(lines.some((l) => l.includes("reconnected to NATS"))), {
        timeoutMs: 10_000,
        what: "the client reconnected",
      });
      await nc.flush();
    } finally {
      await nc.close();
    }
    const log = lines.join("");
    assert.match(log, /disconnected from NATS/);
    assert.ok(!log.includes("pa55"), `the password was logged:\n${log}`);
    assert.ok(!log.includes("agent-7"), `the user was logged:\n${log}`);
    assert.equal(redactNatsUrl(nats.url), `nats://127.0.0.1:${nats.port}`);
  });

  test("wrong credentials fail at once with invalid_argument", LIMIT, async () => {
    await using nats = await startNatsServer({ user: "agent", pass: "right" });
    const started = Date.now();
    await assert.rejects(
      connectNats(`nats://agent:wrong@127.0.0.1:${nats.port}`, { name: "t", logger: silentLogger() }),
      (err: unknown) => {
        assert.ok(err instanceof StagefarmError);
        assert.equal(err.code, "invalid_argument");
        assert.ok(err.message.includes(`nats://127.0.0.1:${nats.port}`), err.message);
        assert.ok(!err.message.includes("wrong"), `the password is in the message: ${err.message}`);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000);
  });

  test("waits for a server that is not up yet, until its deadline or signal", LIMIT, async () => {
    const nats = await startNatsServer();
    const down = `nats://127.0.0.1:${nats.port}`;
    await nats[Symbol.asyncDispose]();
    await assert.rejects(
      connectNats(down, { name: "t", logger: silentLogger(), connectTimeoutMs: 800 }),
      (err: unknown) =>
        err instanceof StagefarmError && err.code === "unavailable" && /within 800 ms/.test(err.message),
    );
    await assert.rejects(
      connectNats(down, { name: "t", logger: silentLogger(), signal: AbortSignal.timeout(300) }),
      (err: unknown) => err instanceof StagefarmError && err.code === "cancelled",
    );
    assert.throws(() => parseNatsUrl("http://host:4222"), /expected nats:\/\//);
    assert.deepEqual(parseNatsUrl("nats://tok@a:1,b:2"), {
      servers: ["nats://a:1", "nats://b:2"],
      token: "tok",
      redacted: "nats://a:1,nats://b:2",
    });
  });
});

describe("JetStream set-up", () => {
  test("opening again is idempotent and brings editable settings up to date", LIMIT, async () => {
    const nc = await connect("setup-test");
    try {
      const prefix = fresh();
      const jsm = await nc.jetstreamManager();
      await NatsJobQueue.open(nc, { prefix, dedupeWindowMs: 60_000 });
      await NatsJobQueue.open(nc, { prefix, dedupeWindowMs: 60_000 });
      const reopened = await NatsJobQueue.open(nc, { prefix, dedupeWindowMs: 5_000, ackWaitMs: 1500 });
      const stream = await jsm.streams.info(jobStreamName(prefix));
      assert.equal(stream.config.duplicate_window, nanos(5_000));
      // The pool's consumer is made on first use, then its ack wait follows the options.
      await reopened.publish("any", enc("x"));
      {
        await using r = new Reader<QueueMessage>(
          (signal) => reopened.consume(["any"], { signal }),
          (m) => m.nak(),
        );
        (await r.take(5000)).ack();
      }
      const consumer = await jsm.consumers.info(jobStreamName(prefix), jobConsumerName(prefix, "any"));
      assert.equal(consumer.config.ack_wait, nanos(1500));
      await reopened.close();

      const bucket = fresh();
      await NatsKvStore.open(nc, bucket);
      await NatsKvStore.open(nc, bucket, { history: 5 });
      assert.equal((await jsm.streams.info(`KV_${bucket}`)).config.max_msgs_per_subject, 5);

      // A stream of the same name with another retention is not silently reused.
      await assert.rejects(
        NatsEventLog.open(nc, { prefix: `${prefix}x` }).then(() =>
          ensureStream(jsm, {
            name: eventStreamName(`${prefix}x`),
            subjects: [`${prefix}x.events.>`],
            retention: RetentionPolicy.Workqueue,
            storage: StorageType.File,
          }),
        ),
        (err: unknown) => {
          assert.ok(err instanceof StagefarmError);
          assert.equal(err.code, "invalid_argument");
          assert.match(err.message, /retention "limits" but "workqueue"/);
          return true;
        },
      );
    } finally {
      await nc.close();
    }
  });
});
