/**
 * The binhost over HTTP, on the coordinator's own HTTP server (coordinator/http-server.ts):
 * Packages, Packages.gz and package paths streamed from the store, Last-Modified /
 * If-Modified-Since → 304 (by the index TIMESTAMP, with portage's 5 s tolerance), HEAD, 404 (never 403) for anything
 * missing or not servable, `+` in paths literally and as %2B, and the redirect to a presigned
 * URL when the store offers one.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { createMetrics, startHttpServer } from "../../coordinator/index.js";
import { type HttpServerHandle } from "../../coordinator/testing.js";
import { parsePackages } from "../../shared/binhost/index.js";
import { silentLogger } from "../../shared/log.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";

async function serve(store: ArtifactStore, redirect = false): Promise<HttpServerHandle> {
  return startHttpServer({
    host: "127.0.0.1",
    port: 0,
    metrics: await createMetrics(),
    logger: silentLogger(),
    accepting: () => true,
    binhost: { store, redirect },
  });
}

void describe("binhost HTTP", () => {
  void test("Packages, Packages.gz and packages (with + literal or %2B); 304 by TIMESTAMP; HEAD; 404 never 403", async () => {
    await using bench = await BinhostBench.create();
    const sigc = await bench.quick({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 1 });
    const first = await bench.service.publish("amd64", [sigc]);
    const http = await serve(bench.fsStore);
    try {
      const base = `${http.url}/binhost/amd64`;
      const index = await fetch(`${base}/Packages`);
      assert.equal(index.status, 200);
      const text = await index.text();
      assert.equal(text, await bench.indexText("amd64"));
      const lastModified = index.headers.get("last-modified") ?? "";
      assert.equal(Date.parse(lastModified) / 1000, first.timestamp, "Last-Modified is the TIMESTAMP");
      assert.equal(index.headers.get("timestamp"), String(first.timestamp));

      // Portage sends If-Modified-Since = its TIMESTAMP + 5 s: 304. The exact Last-Modified
      // cannot be told from a copy up to 5 s older, so it is a 200; before it: 200.
      const portageIms = (ts: number): string => new Date((ts + 5) * 1000).toUTCString();
      const same = await fetch(`${base}/Packages`, {
        headers: { "if-modified-since": portageIms(first.timestamp) },
      });
      assert.equal(same.status, 304);
      assert.equal(await same.text(), "");
      assert.equal(
        (await fetch(`${base}/Packages`, { headers: { "if-modified-since": lastModified } })).status,
        200,
      );
      const older = new Date((first.timestamp - 1) * 1000).toUTCString();
      assert.equal(
        (await fetch(`${base}/Packages`, { headers: { "if-modified-since": older } })).status,
        200,
      );
      // The next write (same second or not) has a greater TIMESTAMP: the cached copy is stale.
      const second = await bench.service.publish("amd64", [
        await bench.quick({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 1, files: { a: "2" } }),
      ]);
      assert.ok(second.timestamp > first.timestamp);
      const fresh = await fetch(`${base}/Packages`, {
        headers: { "if-modified-since": portageIms(first.timestamp) },
      });
      assert.equal(fresh.status, 200);
      assert.equal(parsePackages(await fresh.text()).packages.length, 2);

      const gz = await fetch(`${base}/Packages.gz`);
      assert.equal(gz.status, 200);
      assert.equal(
        gunzipSync(Buffer.from(await gz.arrayBuffer())).toString("utf8"),
        await bench.indexText("amd64"),
      );
      assert.equal(Date.parse(gz.headers.get("last-modified") ?? "") / 1000, second.timestamp);
      const gzCached = await fetch(`${base}/Packages.gz`, {
        headers: { "if-modified-since": portageIms(second.timestamp) },
      });
      assert.equal(gzCached.status, 304);

      // A package path with "+", literal and percent-encoded.
      const expected = await readFile(sigc.file);
      for (const path of [
        "dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar",
        "dev-libs/libsigc%2B%2B/libsigc%2B%2B-2.12.1-1.gpkg.tar",
        "dev-libs/libsigc%2b+/libsigc+%2B-2.12.1-1.gpkg.tar",
      ]) {
        const r = await fetch(`${base}/${path}`);
        assert.equal(r.status, 200, path);
        assert.deepEqual(Buffer.from(await r.arrayBuffer()), expected, path);
        assert.equal(r.headers.get("content-length"), String(expected.length));
      }
      const pkgUrl = `${base}/dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar`;
      const head = await fetch(pkgUrl, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), String(expected.length));
      assert.equal(await head.text(), "");
      const headIndex = await fetch(`${base}/Packages`, { method: "HEAD" });
      assert.equal(headIndex.status, 200);
      assert.equal(
        headIndex.headers.get("content-length"),
        String(Buffer.byteLength((await bench.indexText("amd64")) ?? "")),
      );
      assert.equal(await headIndex.text(), "");
      const pkgCached = await fetch(pkgUrl, {
        headers: { "if-modified-since": head.headers.get("last-modified") ?? "" },
      });
      assert.equal(pkgCached.status, 304);

      // Missing or not servable: 404, never 403.
      for (const path of [
        "/binhost/amd64/dev-libs/libsigc++/libsigc++-2.12.1-9.gpkg.tar",
        "/binhost/amd64/stagefarm.json",
        "/binhost/nope/Packages",
        "/binhost/nope/Packages.gz",
        "/binhost/amd64/",
        "/binhost/amd64/..%2F..%2Fcas",
        "/binhost/amd64/dev-libs%2Flibsigc++/x-1.gpkg.tar",
        "/binhost/Bad%20Name/Packages",
        "/binhost/amd64/Packages.old",
      ]) {
        const r = await fetch(`${http.url}${path}`);
        assert.equal(r.status, 404, path);
        const h = await fetch(`${http.url}${path}`, { method: "HEAD" });
        assert.equal(h.status, 404, `HEAD ${path}`);
      }
      // A write that passes the server's same-origin JSON check still has no binhost route.
      const post = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
      assert.equal((await fetch(`${base}/Packages`, post)).status, 405);
      assert.equal((await fetch(`${base}/Packages`, { method: "POST" })).status, 400);
      // The rest of the server still answers.
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
    } finally {
      await http.close();
    }
  });

  void test("with redirect and a store that presigns: 302 for packages, the index still served directly", async () => {
    await using bench = await BinhostBench.create();
    await bench.service.publish("h", [await bench.quick({ category: "app-misc", pf: "a-1", buildId: 1 })]);
    const presigning = new Proxy(bench.fsStore, {
      get(target, prop) {
        if (prop === "presignObject")
          return (path: string, expiry: number) =>
            Promise.resolve(`https://s3.example/${path}?X-Expires=${expiry}`);
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as ArtifactStore;
    const http = await serve(presigning, true);
    try {
      const r = await fetch(`${http.url}/binhost/h/app-misc/a/a-1-1.gpkg.tar`, { redirect: "manual" });
      assert.equal(r.status, 302);
      assert.equal(
        r.headers.get("location"),
        "https://s3.example/binhost/h/app-misc/a/a-1-1.gpkg.tar?X-Expires=600",
      );
      assert.equal((await fetch(`${http.url}/binhost/h/Packages`, { redirect: "manual" })).status, 200);
      // Missing packages are 404 before any redirect.
      assert.equal(
        (await fetch(`${http.url}/binhost/h/app-misc/a/a-1-2.gpkg.tar`, { redirect: "manual" })).status,
        404,
      );
    } finally {
      await http.close();
    }
  });
});
