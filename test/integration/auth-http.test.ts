/**
 * The coordinator's HTTP server behind the auth file's tokens (a real server on loopback):
 * 401 without or with a bad token, 403 with a role too weak for the route, open health checks,
 * /metrics for viewers or open, the binhost anonymous or behind HTTP basic auth, the dashboard's
 * cookie with its same-origin rule for writes, one log line per refusal without the secret, and
 * HTTPS with the farm's certificate.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator, httpAuth } from "../../coordinator/auth/index.js";
import { sha256Hex, parseAuthConfig } from "../../coordinator/auth/testing.js";
import { createMetrics, RunRegistry, startHttpServer } from "../../coordinator/index.js";
import { type HttpServerHandle } from "../../coordinator/testing.js";
import {
  allTokens,
  authFileText,
  captureLogger,
  makeTlsFixtures,
  makeTokens,
} from "../helpers/auth-fixtures.js";

const tokens = makeTokens();

interface Served {
  url: string;
  logs: Array<Record<string, unknown>>;
  submitted: string[];
}

async function serve(extra: string, fn: (s: Served) => Promise<void>): Promise<void> {
  const logs: Array<Record<string, unknown>> = [];
  const submitted: string[] = [];
  const auth = Authenticator.fromConfig(parseAuthConfig(authFileText(tokens, extra), "auth.yaml"));
  const http: HttpServerHandle = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    metrics: await createMetrics(),
    runs: new RunRegistry(),
    logger: captureLogger(logs),
    accepting: () => true,
    submit: ({ path }) => {
      submitted.push(path);
      return Promise.resolve("run-1");
    },
    auth: httpAuth(auth),
  });
  try {
    await fn({ url: http.url, logs, submitted });
  } finally {
    await http.close();
  }
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers, signal: AbortSignal.timeout(5000) });
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

/** A submission as `POST /api/v1/runs` takes it: the pipeline's text and a display name. */
const SUBMIT = { pipelineYaml: "stages: {}\n", pipelinePath: "p.yaml" };

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
const basic = (user: string, pass: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`,
});

describe("HTTP API behind tokens", () => {
  test("health checks are open; the JSON API and /metrics answer 401 without a token", async () => {
    await serve("", async ({ url }) => {
      assert.equal((await get(`${url}/healthz`)).status, 200);
      assert.equal((await get(`${url}/readyz`)).status, 200);
      for (const path of ["/metrics", "/api/v1/runs", "/api/dashboard/runs", "/anything"]) {
        const res = await get(`${url}${path}`);
        assert.equal(res.status, 401, path);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /);
        const body = (await res.json()) as { code: string; error: string };
        assert.equal(body.code, "unauthenticated");
        assert.match(body.error, /needs a token/);
      }
    });
  });

  test("roles per route: viewer reads, submitter submits, admin drains", async () => {
    await serve("", async ({ url, submitted }) => {
      assert.equal((await get(`${url}/api/v1/runs`, bearer(tokens.viewer))).status, 200);
      assert.equal((await get(`${url}/metrics`, bearer(tokens.viewer))).status, 200);
      const denied = await post(`${url}/api/v1/runs`, SUBMIT, bearer(tokens.viewer));
      assert.equal(denied.status, 403);
      assert.deepEqual(await denied.json(), {
        error: "token val has role viewer; POST /api/v1/runs needs submitter",
        code: "permission_denied",
      });
      assert.deepEqual(submitted, []);
      const ok = await post(`${url}/api/v1/runs`, SUBMIT, bearer(tokens.submitter));
      assert.equal(ok.status, 202);
      assert.deepEqual(submitted, ["p.yaml"]);
      // The dashboard's actions: cancel needs a submitter, drain an admin (404: no dashboard here).
      const cancel = `${url}/api/dashboard/runs/r1/cancel`;
      assert.equal((await post(cancel, {}, bearer(tokens.viewer))).status, 403);
      assert.equal((await post(cancel, {}, bearer(tokens.submitter))).status, 404);
      const drain = `${url}/api/dashboard/agents/a1/drain`;
      assert.equal((await post(drain, {}, bearer(tokens.submitter))).status, 403);
      assert.equal((await post(drain, {}, bearer(tokens.admin))).status, 404);
      // Writes nobody listed need an admin.
      assert.equal((await post(`${url}/api/v2/whatever`, {}, bearer(tokens.submitter))).status, 403);
    });
  });

  test("bad tokens: 401 with the reason, one log line each, no token in the log", async () => {
    await serve("", async ({ url, logs }) => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ authorization: "Bearer nope" }, /malformed token/],
        [{ authorization: "Token abc" }, /malformed authorization/],
        [bearer(tokens.unknown), /unknown token/],
        [bearer(tokens.expired), /token old expired/],
      ];
      for (const [headers, why] of cases) {
        const before = logs.length;
        const res = await get(`${url}/api/v1/runs`, headers);
        assert.equal(res.status, 401);
        assert.match(((await res.json()) as { error: string }).error, why);
        const lines = logs.slice(before).filter((l) => l["msg"] === "refused a request");
        assert.equal(lines.length, 1);
        assert.equal(lines[0]?.["path"], "/api/v1/runs");
        assert.match(String(lines[0]?.["reason"]), why);
      }
      const text = JSON.stringify(logs);
      for (const t of allTokens(tokens)) assert.ok(!text.includes(t.slice(4)), "a token reached the log");
    });
  });

  test("anonymous: viewer reads without a token but may not write; metrics: open", async () => {
    await serve("anonymous: viewer\nmetrics: open\n", async ({ url }) => {
      assert.equal((await get(`${url}/api/v1/runs`)).status, 200);
      assert.equal((await get(`${url}/metrics`)).status, 200);
      assert.equal((await post(`${url}/api/v1/runs`, SUBMIT)).status, 403);
    });
    await serve("metrics: open\n", async ({ url }) => {
      assert.equal((await get(`${url}/metrics`)).status, 200);
      assert.equal((await get(`${url}/api/v1/runs`)).status, 401);
    });
  });

  test("the dashboard's cookie: reads anywhere, writes only from this origin", async () => {
    await serve("", async ({ url, submitted }) => {
      const cookie = { cookie: `theme=dark; stagefarm_token=${tokens.submitter}` };
      assert.equal((await get(`${url}/api/v1/runs`, cookie)).status, 200);
      const foreign = await post(`${url}/api/v1/runs`, SUBMIT, { ...cookie, origin: "https://evil.example" });
      assert.equal(foreign.status, 403);
      assert.match(((await foreign.json()) as { error: string }).error, /cross-site request refused/);
      const none = await post(`${url}/api/v1/runs`, SUBMIT, cookie);
      assert.equal(none.status, 403);
      assert.deepEqual(submitted, []);
      const same = await post(`${url}/api/v1/runs`, SUBMIT, { ...cookie, origin: url });
      assert.equal(same.status, 202);
    });
  });

  test("the binhost: anonymous by default; with binhost_auth, basic auth or a farm token", async () => {
    // No binhost is served here: 404 means the request passed the access rules.
    await serve("", async ({ url }) => {
      assert.equal((await get(`${url}/binhost/main/Packages`)).status, 404);
    });
    const password = "correct horse battery staple";
    await serve(`binhost_auth: { user: portage, sha256: ${sha256Hex(password)} }\n`, async ({ url }) => {
      const pkgs = `${url}/binhost/main/Packages`;
      const anon = await get(pkgs);
      assert.equal(anon.status, 401);
      assert.match(anon.headers.get("www-authenticate") ?? "", /^Basic realm="stagefarm binhost"/);
      assert.equal((await get(pkgs, basic("portage", "wrong"))).status, 401);
      assert.equal((await get(pkgs, basic("someone", password))).status, 401);
      assert.equal((await get(pkgs, basic("portage", password))).status, 404);
      assert.equal((await get(pkgs, bearer(tokens.viewer))).status, 404);
      assert.equal((await get(pkgs, bearer(tokens.unknown))).status, 401);
    });
  });
});

describe("HTTPS", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-auth-https-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("serves HTTPS with the farm's certificate; a client trusting another CA is refused", async () => {
    const fx = await makeTlsFixtures(dir);
    const http = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      metrics: await createMetrics(),
      logger: captureLogger([]),
      accepting: () => true,
      auth: httpAuth(Authenticator.fromConfig(parseAuthConfig(authFileText(tokens), "auth.yaml"))),
      tls: fx.server,
    });
    try {
      assert.match(http.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const fetchTls = (path: string, ca: Buffer, headers: Record<string, string> = {}): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = httpsRequest(`${http.url}${path}`, { ca, servername: "localhost", headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        });
      assert.equal(await fetchTls("/healthz", fx.ca), 200);
      assert.equal(await fetchTls("/metrics", fx.ca), 401);
      assert.equal(await fetchTls("/metrics", fx.ca, bearer(tokens.viewer)), 200);
      await assert.rejects(fetchTls("/healthz", fx.otherCa), /self[- ]signed certificate|unable to verify/);
    } finally {
      await http.close();
    }
  });
});
