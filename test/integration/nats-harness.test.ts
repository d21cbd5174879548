/**
 * The nats-server test harness: it starts a healthy JetStream server on random ports, restarts
 * it with its data, and leaves neither a process nor a directory behind — also when the test
 * using it fails.
 */
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { test } from "node:test";
import { connect, StorageType } from "nats";
import { StagefarmError } from "../../shared/errors.js";
import { startNatsServer } from "../helpers/nats-server.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw StagefarmError.from(err);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err: unknown) {
    if (StagefarmError.from(err).code === "not_found") return false;
    throw err;
  }
}

const LIMIT = { timeout: 30_000 };

test("starts a healthy JetStream server on loopback and stops it for good", LIMIT, async () => {
  const server = await startNatsServer();
  const { pid, storeDir } = server;
  try {
    assert.ok(pid > 0 && alive(pid));
    assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.port, server.monitorPort);
    const health = await fetch(`http://127.0.0.1:${server.monitorPort}/healthz?js-enabled-only=true`);
    assert.equal(health.status, 200);
    const nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    assert.ok((await jsm.getAccountInfo()).limits !== undefined);
    await nc.close();
  } finally {
    await server[Symbol.asyncDispose]();
  }
  assert.equal(alive(pid), false, "nats-server is still running");
  assert.equal(await exists(storeDir), false, "the store directory was left behind");
  assert.equal(server.pid, 0);
});

test("restart keeps the ports and the JetStream data; kill and stop end the process", LIMIT, async () => {
  await using server = await startNatsServer();
  const before = { pid: server.pid, port: server.port, monitorPort: server.monitorPort };
  let nc = await connect({ servers: server.url });
  const kv = await nc.jetstream().views.kv("harness", { storage: StorageType.File });
  await kv.put("runs.r1", "kept");
  await nc.close();

  await server.restart();
  assert.notEqual(server.pid, before.pid);
  assert.equal(alive(before.pid), false);
  assert.deepEqual([server.port, server.monitorPort], [before.port, before.monitorPort]);
  nc = await connect({ servers: server.url });
  const again = await nc.jetstream().views.kv("harness");
  assert.equal((await again.get("runs.r1"))?.string(), "kept");
  await nc.close();

  const killed = server.pid;
  await server.kill();
  assert.equal(alive(killed), false, "SIGKILL left the process running");
  assert.equal(server.pid, 0);
  await server.restart();
  assert.ok(alive(server.pid));
  const stopped = server.pid;
  await server.stop();
  assert.equal(alive(stopped), false);
  await server.stop(); // idempotent
});

test("a failing test still removes the server and its directory", LIMIT, async () => {
  let pid = 0;
  let storeDir = "";
  await assert.rejects(
    (async () => {
      await using server = await startNatsServer();
      pid = server.pid;
      storeDir = server.storeDir;
      throw new Error("the test failed");
    })(),
    /the test failed/,
  );
  assert.ok(pid > 0);
  assert.equal(alive(pid), false, "nats-server survived a failing test");
  assert.equal(await exists(storeDir), false, "the store directory survived a failing test");
});

test("a missing binary fails with a message saying how to install it", LIMIT, async () => {
  await assert.rejects(startNatsServer({ binary: "/nonexistent/nats-server" }), (err: unknown) => {
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "not_found");
    assert.match(err.message, /not found.*apt-get install nats-server/);
    return true;
  });
});

test("credentials: the server requires them and the url carries them", LIMIT, async () => {
  await using server = await startNatsServer({ user: "agent", pass: "s3cret/x" });
  assert.match(server.url, /^nats:\/\/agent:s3cret%2Fx@127\.0\.0\.1:\d+$/);
  const plain = `nats://127.0.0.1:${server.port}`;
  await assert.rejects(
    connect({ servers: plain, maxReconnectAttempts: 0 }),
    /AUTHORIZATION_VIOLATION|Authorization/i,
  );
  const nc = await connect({ servers: plain, user: "agent", pass: "s3cret/x" });
  await nc.close();
});
