/**
 * The checks every request to the coordinator's HTTP server passes (coordinator/request-guard.ts),
 * against real servers on loopback and on every interface: Host must be a name of the server
 * (DNS rebinding), writes must be same-origin JSON on every route (CSRF: a cross-site
 * `text/plain` form could start a run), a request target that is no URL is a 400, and error
 * messages show caller-supplied values escaped and cut.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Authenticator, httpAuth } from "../../coordinator/auth/index.js";
import { parseAuthConfig } from "../../coordinator/auth/testing.js";
import { createMetrics, RunRegistry, startHttpServer } from "../../coordinator/index.js";
import { type HttpServerDeps } from "../../coordinator/testing.js";
import { authFileText, captureLogger, makeTokens } from "../helpers/auth-fixtures.js";
import { rawRequest, rawSocketStatus, type RawResponse } from "../helpers/raw-http.js";

interface Served {
  port: number;
  url: string;
  submitted: string[];
}

async function serve(extra: Partial<HttpServerDeps>, fn: (s: Served) => Promise<void>): Promise<void> {
  const submitted: string[] = [];
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    metrics: await createMetrics(),
    runs: new RunRegistry(),
    logger: captureLogger([]),
    accepting: () => true,
    submit: ({ path }) => {
      submitted.push(path);
      return Promise.resolve("run-1");
    },
    ...extra,
  });
  try {
    await fn({ port: Number(new URL(http.url).port), url: http.url, submitted });
  } finally {
    await http.close();
  }
}

const get = (port: number, host: string, path = "/api/v1/runs"): Promise<RawResponse> =>
  rawRequest(port, { path, headers: { host } });

function errorOf(r: RawResponse): string {
  return (JSON.parse(r.body) as { error: string }).error;
}

const SUBMIT = JSON.stringify({ pipelineYaml: "stages: {}\n", pipelinePath: "p.yaml" });

describe("Host (DNS rebinding)", () => {
  test("on loopback: 127.0.0.1, localhost and [::1] with the port; other names and ports refused", async () => {
    await serve({}, async ({ port }) => {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`])
        assert.equal((await get(port, host)).status, 200, host);
      for (const host of [
        `evil.example:${port}`,
        "evil.example",
        `127.0.0.1:${port + 1}`,
        `127.0.0.2:${port}`,
      ]) {
        const r = await get(port, host);
        assert.equal(r.status, 400, host);
        assert.match(errorOf(r), /is not a name of this server .*--http-host-name/);
      }
      // Refused before anything else: no state-changing route runs either.
      const post = await rawRequest(port, {
        method: "POST",
        path: "/api/v1/runs",
        headers: { host: `rebound.example:${port}`, "content-type": "application/json" },
        body: SUBMIT,
      });
      assert.equal(post.status, 400);
      // HTTP/1.0 without a Host header.
      assert.equal(await rawSocketStatus(port, "GET /api/v1/runs HTTP/1.0\r\n\r\n"), 400);
    });
  });

  test("--http-host-name: the names given are accepted with any port", async () => {
    await serve({ hostNames: ["farm.example"] }, async ({ port }) => {
      for (const host of ["farm.example", "farm.example:443", `FARM.example:${port}`, `localhost:${port}`])
        assert.equal((await get(port, host)).status, 200, host);
      assert.equal((await get(port, "other.example")).status, 400);
    });
  });

  test("on every interface: IP addresses are accepted, names only when given or with tokens", async () => {
    await serve({ host: "0.0.0.0" }, async ({ port }) => {
      for (const host of [`10.1.2.3:${port}`, `127.0.0.1:${port}`, `[fd00::1]:${port}`, `localhost:${port}`])
        assert.equal((await get(port, host)).status, 200, host);
      assert.equal((await get(port, `evil.example:${port}`)).status, 400);
    });
    const tokens = makeTokens();
    const auth = httpAuth(Authenticator.fromConfig(parseAuthConfig(authFileText(tokens), "auth.yaml")));
    await serve({ host: "0.0.0.0", auth }, async ({ port }) => {
      const r = await rawRequest(port, {
        path: "/api/v1/runs",
        headers: { host: `farm.example:${port}`, authorization: `Bearer ${tokens.viewer}` },
      });
      assert.equal(r.status, 200);
    });
  });
});

describe("state-changing requests are same-origin JSON", () => {
  const post = (port: number, headers: Record<string, string>, body = SUBMIT, path = "/api/v1/runs") =>
    rawRequest(port, { method: "POST", path, headers, body });

  test("POST /api/v1/runs: a cross-site form, a foreign Origin or Sec-Fetch-Site are refused", async () => {
    await serve({}, async ({ port, url, submitted }) => {
      const refused: Array<[Record<string, string>, RegExp]> = [
        // What a cross-site <form enctype="text/plain"> sends: a body that is also valid JSON.
        [{ "content-type": "text/plain" }, /content-type application\/json/],
        [{ "content-type": "application/x-www-form-urlencoded" }, /content-type application\/json/],
        [
          { "content-type": "application/json", origin: "https://evil.example" },
          /Origin "https:\/\/evil\.example" is not this server/,
        ],
        [{ "content-type": "application/json", origin: "null" }, /Origin "null"/],
        [{ "content-type": "application/json", "sec-fetch-site": "cross-site" }, /cross-site/],
        [{ "content-type": "application/json", "sec-fetch-site": "same-site" }, /cross-site/],
        [{ "content-type": "application/jsonx" }, /content-type application\/json/],
      ];
      for (const [headers, why] of refused) {
        const r = await post(port, headers);
        assert.equal(r.status, 400, JSON.stringify(headers));
        assert.match(errorOf(r), why);
      }
      assert.deepEqual(submitted, []);
      // The CLI (no Origin) and the page itself (its own Origin) submit.
      assert.equal((await post(port, { "content-type": "application/json" })).status, 202);
      assert.equal(
        (
          await post(port, {
            "content-type": "application/json; charset=utf-8",
            origin: url,
            "sec-fetch-site": "same-origin",
          })
        ).status,
        202,
      );
      assert.deepEqual(submitted, ["p.yaml", "p.yaml"]);
    });
  });

  test("every other write too: dashboard actions, sessions, the binhost, unknown routes", async () => {
    await serve({}, async ({ port }) => {
      const writes: Array<[string, string]> = [
        ["POST", "/api/dashboard/runs"],
        ["POST", "/api/dashboard/runs/r1/cancel"],
        ["POST", "/api/dashboard/agents/a1/drain"],
        ["DELETE", "/api/dashboard/session"],
        ["PUT", "/binhost/main/Packages"],
        ["DELETE", "/api/v1/runs/r1"],
        ["PATCH", "/anything"],
      ];
      for (const [method, path] of writes) {
        const plain = await rawRequest(port, {
          method,
          path,
          headers: { "content-type": "text/plain" },
          body: "{}",
        });
        assert.equal(plain.status, 400, `${method} ${path}`);
        assert.match(errorOf(plain), /content-type application\/json/);
        const foreign = await rawRequest(port, {
          method,
          path,
          headers: { "content-type": "application/json", origin: "http://evil.example" },
          body: "{}",
        });
        assert.equal(foreign.status, 400, `${method} ${path}`);
      }
    });
  });
});

describe("bad requests", () => {
  test("a request target that is no URL is a 400, not a 500", async () => {
    await serve({}, async ({ port }) => {
      for (const target of ["//%%", "http://[", "//[::1"]) {
        const status = await rawSocketStatus(
          port,
          `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
        );
        assert.equal(status, 400, target);
      }
    });
  });

  test("error messages show caller-supplied values escaped and cut", async () => {
    await serve({}, async ({ port }) => {
      const host = `127.0.0.1:${port}`;
      const longId = "a".repeat(5000);
      const r = await get(port, host, `/api/v1/runs/${longId}`);
      assert.equal(r.status, 404);
      assert.ok(errorOf(r).length < 300, `a bounded message, got ${errorOf(r).length} characters`);
      assert.match(errorOf(r), /…\(\d+ more\)/);
      const noRoute = await get(port, host, `/x${"b".repeat(5000)}`);
      assert.equal(noRoute.status, 404);
      assert.ok(errorOf(noRoute).length < 300);
      const rebound = await get(port, `evil\u0000\u202e${"c".repeat(5000)}`.replace(/[^\x20-\x7e]/g, "."));
      assert.equal(rebound.status, 400);
      assert.ok(errorOf(rebound).length < 400);
    });
  });
});
