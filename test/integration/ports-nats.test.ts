/**
 * The NATS JetStream ports (KV, job queue, event log) against their conformance suites on a
 * real nats-server (fresh names per test), plus what only a server can do: restart under a
 * running client without losing jobs, values or events, and the client resuming by itself.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "nats";
import { silentLogger } from "../../shared/log.js";
import { connectNats, NatsEventLog, NatsJobQueue, NatsKvStore } from "../../shared/nats/index.js";
import type { KvChange, LoggedEvent, QueueMessage } from "../../shared/ports/index.js";
import { eventLogConformance } from "../conformance/event-log.js";
import { eventually, jobQueueConformance, Reader, text } from "../conformance/job-queue.js";
import { kvConformance } from "../conformance/kv.js";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const fresh = (): string => `t${randomBytes(5).toString("hex")}`;

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
  const queue = await NatsJobQueue.open(nc, { prefix: fresh(), ackWaitMs });
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
