/** shared/util/http-listen.ts: port 0 reports the bound port; failures leave no listener; close ends keep-alive. */
import assert from "node:assert/strict";
import { createServer, request, Agent } from "node:http";
import { test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

test("port 0: resolves with the port the OS bound, and the server answers on it", async () => {
  const server = createServer((_req, res) => res.end("hi"));
  const listeners = server.listenerCount("listening"); // node:http keeps one of its own
  const addr = await listenHttp(server, "127.0.0.1", 0, "the test server");
  try {
    assert.notEqual(addr.port, 0);
    assert.equal(addr.host, "127.0.0.1");
    assert.equal(addr.hostPort, `127.0.0.1:${addr.port}`);
    assert.equal(server.listenerCount("error"), 0, "no error listener left behind");
    assert.equal(server.listenerCount("listening"), listeners);
    assert.equal(await (await fetch(`http://${addr.hostPort}/`)).text(), "hi");
  } finally {
    await closeHttp(server);
  }
  assert.equal(server.listening, false);
});

test("IPv6 loopback: the host is bracketed in hostPort", async (t) => {
  const server = createServer();
  const addr = await listenHttp(server, "::1", 0, "the test server").catch((err: unknown) => {
    // A host without IPv6 cannot bind ::1: nothing to check there.
    if (StagefarmError.from(err).details.errno === "EADDRNOTAVAIL") return undefined;
    throw err;
  });
  if (addr === undefined) return t.skip("no IPv6 loopback here");
  try {
    assert.equal(addr.hostPort, `[::1]:${addr.port}`);
  } finally {
    await closeHttp(server);
  }
});

test("a port in use: unavailable, naming the address and the cause; no listener left", async () => {
  const taken = createServer();
  const { port } = await listenHttp(taken, "127.0.0.1", 0, "the first server");
  const second = createServer();
  const listeners = second.listenerCount("listening");
  try {
    await assert.rejects(listenHttp(second, "127.0.0.1", port, "the second server"), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "unavailable");
      assert.equal(err.details.errno, "EADDRINUSE");
      assert.match(err.message, new RegExp(`^the second server cannot listen on 127\\.0\\.0\\.1:${port}: `));
      return true;
    });
    assert.equal(second.listenerCount("error"), 0, "no error listener left behind");
    assert.equal(second.listenerCount("listening"), listeners, "no listening listener left behind");
  } finally {
    await closeHttp(taken);
  }
});

test("close ends an idle keep-alive connection at once and a request in flight after the grace", async () => {
  let answered = false;
  let slowArrived = (): void => undefined;
  const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
  const server = createServer((req, res) => {
    if (req.url === "/slow") return slowArrived(); // never answers: only the grace ends it
    answered = true;
    res.end("ok");
  });
  const { port } = await listenHttp(server, "127.0.0.1", 0, "the test server");
  const agent = new Agent({ keepAlive: true });
  try {
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(body));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal(await get("/"), "ok");
    assert.ok(answered);
    // The keep-alive socket of that request stays open on the server until close ends it.
    const slow = get("/slow").then(
      () => "answered",
      (err: unknown) => (err instanceof Error ? "cut" : "?"),
    );
    // The slow request reached the server before close starts.
    await arrived;
    const t0 = performance.now();
    await closeHttp(server, 200);
    const took = performance.now() - t0;
    assert.equal(await slow, "cut", "the request in flight was cut after the grace");
    assert.ok(took >= 190, `closed after the grace, not before (${took} ms)`);
    assert.equal(server.listening, false);
  } finally {
    agent.destroy();
    await closeHttp(server, 0);
  }
});
