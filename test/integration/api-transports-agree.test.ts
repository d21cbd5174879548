/**
 * One implementation, two transports: the same request gives the same answer over gRPC and over
 * the HTTP JSON API (coordinator/http-api/), both served by coordinator/api/stagefarm-api.ts
 * over one farm behind one auth file. A bad page token, a page size, an unknown run or stage, an
 * empty submission and a role too weak give the same error code either way; a page is the same
 * page. A path with the wrong method is a 405 naming the methods it has.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { credentials, Metadata, ServerCredentials } from "@grpc/grpc-js";
import { Authenticator, httpAuth, rpcAuthorizer } from "../../coordinator/auth/index.js";
import { parseAuthConfig } from "../../coordinator/auth/testing.js";
import { createStagefarmApi } from "../../coordinator/testing.js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import { createGrpcClient, createGrpcServer, listen } from "../../shared/grpc/index.js";
import { silentLogger } from "../../shared/log.js";
import { authFileText, makeTokens } from "../helpers/auth-fixtures.js";
import { DashboardFarm } from "../helpers/dashboard-farm.js";

const QUICK = `pipeline: agree
stages:
  s:
    runner: shell
    script: mkdir -p out && echo hi > out/a
    outputs: { o: out }
`;

/** The code a transport-independent client acts on (an auth failure's is unauthenticated or permission_denied). */
function codeOf(err: unknown): string {
  assert.ok(err instanceof StagefarmError, `a StagefarmError, got ${String(err)}`);
  return err.code;
}

test("gRPC and HTTP give the same pages and the same error codes", async () => {
  const tokens = makeTokens();
  const auth = Authenticator.fromConfig(parseAuthConfig(authFileText(tokens), "auth.yaml"));
  await using d = await DashboardFarm.create({ auth: httpAuth(auth) });
  d.farm.addAgent("a1", [], 2);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const doc = await d.farm.coordinator.submit({ yaml: QUICK, path: "agree.yaml", params: {} });
    await d.farm.coordinator.settled(doc.id);
    ids.push(doc.id);
  }
  const server = createGrpcServer(
    StagefarmService,
    createStagefarmApi({
      coordinator: d.farm.coordinator,
      store: d.farm.store,
      bus: d.farm.bus,
      subjects: d.farm.subjects,
    }),
    { logger: silentLogger(), authorizer: rpcAuthorizer(auth) },
  );
  const listener = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
  const client = createGrpcClient(StagefarmService, listener.address, credentials.createInsecure());
  try {
    const as = (token: string) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      return { metadata, deadlineMs: 10_000 };
    };
    const viaGrpc = async (call: Promise<unknown>): Promise<string> => {
      try {
        await call;
      } catch (err: unknown) {
        return codeOf(err);
      }
      return "ok";
    };
    const viaHttp = async (
      method: "GET" | "POST",
      path: string,
      token: string,
      body?: unknown,
    ): Promise<{ status: number; code: string }> => {
      const res = await fetch(`${d.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as { code?: string };
      return { status: res.status, code: res.ok ? "ok" : (json.code ?? "?") };
    };
    const { viewer, submitter, admin } = tokens;
    const cases: Array<{
      what: string;
      grpc: () => Promise<unknown>;
      http: () => Promise<{ status: number; code: string }>;
      code: string;
      status: number;
    }> = [
      {
        what: "a page token that is no offset",
        grpc: () => client.listRuns({ pageToken: "bogus" }, as(viewer)),
        http: () => viaHttp("GET", "/api/dashboard/runs?pageToken=bogus", viewer),
        code: "invalid_argument",
        status: 400,
      },
      {
        what: "a negative page token",
        grpc: () => client.listRuns({ pageToken: "-2" }, as(viewer)),
        http: () => viaHttp("GET", "/api/dashboard/runs?pageToken=-2", viewer),
        code: "invalid_argument",
        status: 400,
      },
      {
        what: "a cache page token that is no offset",
        grpc: () => client.listCache({ pageToken: "x" }, as(viewer)),
        http: () => viaHttp("GET", "/api/dashboard/cache/entries?pageToken=x", viewer),
        code: "invalid_argument",
        status: 400,
      },
      {
        what: "an unknown run",
        grpc: () => client.getRun({ runId: "no-such-run" }, as(viewer)),
        http: () => viaHttp("GET", "/api/dashboard/runs/no-such-run", viewer),
        code: "not_found",
        status: 404,
      },
      {
        what: "cancelling an unknown run",
        grpc: () => client.cancelRun({ runId: "no-such-run" }, as(submitter)),
        http: () => viaHttp("POST", "/api/dashboard/runs/no-such-run/cancel", submitter, {}),
        code: "not_found",
        status: 404,
      },
      {
        what: "retrying a stage the run lacks",
        grpc: () => client.retryStage({ runId: ids[0] ?? "", stage: "nope" }, as(submitter)),
        http: () => viaHttp("POST", `/api/dashboard/runs/${ids[0] ?? ""}/stages/nope/retry`, submitter, {}),
        code: "not_found",
        status: 404,
      },
      {
        what: "an empty submission",
        grpc: () => client.submitRun({ pipelineYaml: " " }, as(submitter)),
        http: () => viaHttp("POST", "/api/dashboard/runs", submitter, { pipelineYaml: " " }),
        code: "invalid_argument",
        status: 400,
      },
      {
        what: "a viewer cancelling",
        grpc: () => client.cancelRun({ runId: ids[0] ?? "" }, as(viewer)),
        http: () => viaHttp("POST", `/api/dashboard/runs/${ids[0] ?? ""}/cancel`, viewer, {}),
        code: "permission_denied",
        status: 403,
      },
      {
        what: "a submitter draining an agent",
        grpc: () => client.drainAgent({ agentId: "a1" }, as(submitter)),
        http: () => viaHttp("POST", "/api/dashboard/agents/a1/drain", submitter, {}),
        code: "permission_denied",
        status: 403,
      },
      {
        what: "an unknown token",
        grpc: () => client.listRuns({}, as(tokens.unknown)),
        http: () => viaHttp("GET", "/api/dashboard/runs", tokens.unknown),
        code: "unauthenticated",
        status: 401,
      },
      {
        what: "undraining an agent that never connected",
        grpc: () => client.undrainAgent({ agentId: "nobody" }, as(admin)),
        http: () => viaHttp("POST", "/api/dashboard/agents/nobody/undrain", admin, {}),
        code: "not_found",
        status: 404,
      },
    ];
    for (const c of cases) {
      const [g, h] = await Promise.all([viaGrpc(c.grpc()), c.http()]);
      assert.equal(g, c.code, `gRPC: ${c.what}`);
      assert.deepEqual(h, { status: c.status, code: c.code }, `HTTP: ${c.what}`);
    }

    // The same page size gives the same page and the same next token; 0 is the same default.
    for (const size of [1, 2, 0]) {
      const g = await client.listRuns({ pageSize: size, pipeline: "agree" }, as(viewer));
      const res = await fetch(`${d.base}/api/dashboard/runs?pageSize=${size}&pipeline=agree`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      const h = (await res.json()) as { runs?: Array<{ id: string }>; nextPageToken?: string };
      assert.deepEqual(
        (h.runs ?? []).map((r) => r.id),
        g.runs.map((r) => r.id),
        `page size ${size}`,
      );
      assert.equal(h.nextPageToken ?? "", g.nextPageToken, `page size ${size}`);
    }
    const second = await client.listRuns({ pageSize: 2, pageToken: "2" }, as(viewer));
    assert.deepEqual(
      second.runs.map((r) => r.id),
      [ids[0]],
      "newest first: the oldest run is on the second page",
    );
    const entries = await client.listCache({ pipeline: "agree", pageSize: 5 }, as(viewer));
    const httpEntries = (await (
      await fetch(`${d.base}/api/dashboard/cache/entries?pipeline=agree&pageSize=5`, {
        headers: { authorization: `Bearer ${viewer}` },
      })
    ).json()) as { entries?: Array<{ key: string }> };
    assert.equal(entries.entries.length, 1, "the three runs share one cache entry");
    assert.deepEqual(
      (httpEntries.entries ?? []).map((e) => e.key),
      entries.entries.map((e) => e.key),
    );
    const badSize = await viaHttp("GET", "/api/dashboard/runs?pageSize=-1", viewer);
    assert.deepEqual(badSize, { status: 400, code: "invalid_argument" }, "a page size is a uint32");

    // A path with another method: 405 naming the methods it has.
    const wrong = await fetch(`${d.base}/api/dashboard/runs`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, HEAD, POST");
    const cancelGet = await fetch(`${d.base}/api/dashboard/runs/${ids[0] ?? ""}/cancel`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(cancelGet.status, 405);
    assert.equal(cancelGet.headers.get("allow"), "POST");
  } finally {
    client.close();
    await listener.close(500);
  }
});
