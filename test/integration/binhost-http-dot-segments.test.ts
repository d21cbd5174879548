/**
 * A request path with `..` (or `.`) segments under /binhost/ is 404, as documented, even when
 * resolving them would name a servable file: the path is judged as sent, not as URL parsing
 * resolves it. Sent over a raw request (fetch would resolve the segments itself).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMetrics, startHttpServer } from "../../coordinator/index.js";
import { silentLogger } from "../../shared/log.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { rawRequest } from "../helpers/raw-http.js";

void test("binhost HTTP: /binhost/a/../b/Packages and friends are 404, the plain path 200", async () => {
  await using bench = await BinhostBench.create();
  await bench.service.publish("b", [
    await bench.quick({ category: "dev-libs", pf: "expat-2.6.2", buildId: 1 }),
  ]);
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    metrics: await createMetrics(),
    logger: silentLogger(),
    accepting: () => true,
    binhost: { store: bench.fsStore, redirect: false },
  });
  try {
    const port = Number(new URL(http.url).port);
    assert.equal((await rawRequest(port, { path: "/binhost/b/Packages" })).status, 200);
    for (const path of [
      "/binhost/a/../b/Packages",
      "/binhost/b/./Packages",
      "/binhost/b/dev-libs/../Packages",
      "/binhost/a/%2e%2e/b/Packages",
      "/x/../binhost/b/Packages",
      "/binhost/b/dev-libs/expat/../expat/expat-2.6.2-1.gpkg.tar",
    ]) {
      const r = await rawRequest(port, { path });
      assert.equal(r.status, 404, `${path}: ${r.status}`);
      const head = await rawRequest(port, { path, method: "HEAD" });
      assert.equal(head.status, 404, `HEAD ${path}: ${head.status}`);
    }
    assert.equal(
      (await rawRequest(port, { path: "/binhost/b/dev-libs/expat/expat-2.6.2-1.gpkg.tar?x=1" })).status,
      200,
    );
  } finally {
    await http.close();
  }
});
