/**
 * Authentication and authorisation of the gRPC API against real grpc-js servers on loopback:
 * table-driven over StagefarmService's descriptors (every RPC refused without a token, refused
 * with a role too weak for it, served with the role it needs), an RPC without a table row,
 * malformed, unknown and expired tokens (each with one operator log line and no token in the
 * logs), anonymous viewers, oversized requests; then TLS: the wrong CA, mutual TLS without a
 * certificate, with another CA's and with an expired one, and a plain-text client.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescMethod } from "@bufbuild/protobuf";
import { credentials, Metadata, ServerCredentials } from "@grpc/grpc-js";
import { Authenticator, rpcAuthorizer } from "../../coordinator/auth/index.js";
import { ROLES, parseAuthConfig, RPC_ROLES, type Role } from "../../coordinator/auth/testing.js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import {
  AuthError,
  clientSecurity,
  createGrpcClient,
  createGrpcServer,
  listen,
  type CallAuthorizer,
  type GrpcClient,
  type Principal,
  type ServiceImpl,
} from "../../shared/grpc/index.js";
import {
  type CallOptions,
  type ClientTls,
  type GrpcListener,
  type ServerTls,
} from "../../shared/grpc/testing.js";
import {
  allTokens,
  authFileText,
  captureLogger,
  makeTlsFixtures,
  makeTokens,
  type TlsFixtures,
} from "../helpers/auth-fixtures.js";
import { poll } from "../helpers/poll.js";

type Client = GrpcClient<typeof StagefarmService>;
type Impl = Partial<ServiceImpl<typeof StagefarmService>>;

const tokens = makeTokens();
const config = parseAuthConfig(authFileText(tokens), "auth.yaml");

/** Every RPC answers an empty response (or an empty stream); `seen` records who called. */
function fakeImpl(seen: Principal[] = []): Impl {
  const impl: Record<string, unknown> = {};
  for (const m of StagefarmService.methods) {
    impl[m.localName] =
      m.methodKind === "unary"
        ? (_req: unknown, ctx: { principal: Principal | undefined }) => {
            if (ctx.principal !== undefined) seen.push(ctx.principal);
            return Promise.resolve({});
          }
        : async function* () {
            // an empty stream
          };
  }
  return impl;
}

interface Served {
  client: (tls?: ClientTls) => Client;
  listener: GrpcListener;
  logs: Array<Record<string, unknown>>;
}

async function serve(
  opts: {
    authorizer?: CallAuthorizer;
    tls?: ServerTls;
    maxReceiveMessageLength?: number;
    seen?: Principal[];
  },
  fn: (s: Served) => Promise<void>,
): Promise<void> {
  const logs: Array<Record<string, unknown>> = [];
  const server = createGrpcServer(StagefarmService, fakeImpl(opts.seen), {
    logger: captureLogger(logs),
    ...(opts.authorizer === undefined ? {} : { authorizer: opts.authorizer }),
    ...(opts.maxReceiveMessageLength === undefined
      ? {}
      : { maxReceiveMessageLength: opts.maxReceiveMessageLength }),
  });
  const listener = await listen(server, "127.0.0.1:0", opts.tls ?? ServerCredentials.createInsecure());
  const clients: Client[] = [];
  const client = (tls?: ClientTls): Client => {
    // The certificate's name is checked as "localhost": node warns about an IP as TLS server name.
    const sec =
      tls === undefined
        ? { credentials: credentials.createInsecure(), channelOptions: {} }
        : clientSecurity({ serverName: "localhost", ...tls });
    const c = createGrpcClient(StagefarmService, listener.address, sec.credentials, {
      channelOptions: sec.channelOptions,
    });
    clients.push(c);
    return c;
  };
  try {
    await fn({ client, listener, logs });
  } finally {
    for (const c of clients) c.close();
    await listener.close(500);
  }
}

function withToken(authorization: string | undefined): CallOptions {
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set("authorization", authorization);
  return { metadata, deadlineMs: 5000 };
}

/** Calls `method` with an empty request; resolves "ok" or the error. */
async function call(
  client: Client,
  method: DescMethod,
  authorization?: string,
): Promise<"ok" | StagefarmError> {
  const fn = Reflect.get(client, method.localName) as (req: object, opts: CallOptions) => unknown;
  try {
    if (method.methodKind === "unary") await (fn({}, withToken(authorization)) as Promise<unknown>);
    else for await (const _ of fn({}, withToken(authorization)) as AsyncIterable<unknown>);
    return "ok";
  } catch (err: unknown) {
    return StagefarmError.from(err);
  }
}

function failureOf(r: "ok" | StagefarmError): string {
  if (r === "ok") return "ok";
  return `${r.code}: ${r.message}`;
}

const bearer = (t: string): string => `Bearer ${t}`;
const tokenOf: Record<Role, string> = {
  viewer: tokens.viewer,
  submitter: tokens.submitter,
  admin: tokens.admin,
};
const rank = (r: Role): number => ROLES.indexOf(r);

describe("gRPC authorisation, table-driven over StagefarmService", () => {
  const authorizer = rpcAuthorizer(Authenticator.fromConfig(config));

  test("the RPC→role table has exactly one row per RPC of the service", () => {
    assert.deepEqual(Object.keys(RPC_ROLES).sort(), StagefarmService.methods.map((m) => m.localName).sort());
    assert.doesNotThrow(() => authorizer.checkCovers(StagefarmService));
  });

  test("every RPC: no token → UNAUTHENTICATED; too weak a role → PERMISSION_DENIED; its role → served", async () => {
    await serve({ authorizer }, async ({ client }) => {
      const c = client();
      for (const method of StagefarmService.methods) {
        const need = RPC_ROLES[method.localName as keyof typeof RPC_ROLES];
        const anon = await call(c, method);
        assert.ok(
          anon instanceof AuthError && anon.code === "unauthenticated",
          `${method.name}: ${failureOf(anon)}`,
        );
        assert.equal(anon.details["grpcStatus"], "UNAUTHENTICATED");
        for (const role of ROLES) {
          const r = await call(c, method, bearer(tokenOf[role]));
          if (rank(role) < rank(need)) {
            assert.ok(
              r instanceof AuthError && r.code === "permission_denied",
              `${method.name} as ${role}: ${failureOf(r)}`,
            );
            assert.equal(r.details["grpcStatus"], "PERMISSION_DENIED");
            assert.match(r.message, new RegExp(`role ${role}; ${method.name} needs ${need}`));
          } else assert.equal(r, "ok", `${method.name} as ${role}: ${failureOf(r)}`);
        }
      }
    });
  });

  test("the handler sees who called", async () => {
    const seen: Principal[] = [];
    await serve({ authorizer, seen }, async ({ client }) => {
      await client().getRun({ runId: "x" }, withToken(bearer(tokens.submitter)));
    });
    assert.deepEqual(seen, [{ name: "sam", role: "submitter" }]);
  });

  test("an RPC without a row is refused: the server does not start, and a call is denied even to admins", async () => {
    const { cancelRun: _dropped, ...partial } = RPC_ROLES;
    const incomplete = rpcAuthorizer(Authenticator.fromConfig(config), partial);
    assert.throws(
      () =>
        createGrpcServer(StagefarmService, fakeImpl(), { logger: captureLogger([]), authorizer: incomplete }),
      /no access rule for stagefarm\.v1\.StagefarmService\.CancelRun/,
    );
    // Served anyway (the start check bypassed): the call itself is refused.
    const lax: CallAuthorizer = { authorize: (c) => incomplete.authorize(c), checkCovers: () => undefined };
    await serve({ authorizer: lax }, async ({ client }) => {
      const method = StagefarmService.method.cancelRun;
      const r = await call(client(), method, bearer(tokens.admin));
      assert.ok(r instanceof AuthError && r.code === "permission_denied", failureOf(r));
      assert.match(r.message, /CancelRun has no access rule/);
    });
  });

  test("malformed, unknown and expired tokens: UNAUTHENTICATED, one log line each, no token in any log", async () => {
    await serve({ authorizer }, async ({ client, logs }) => {
      const c = client();
      const method = StagefarmService.method.listRuns;
      const cases: Array<[string, RegExp]> = [
        ["Bearer not-a-token", /malformed token/],
        ["Basic dXNlcjpwYXNz", /malformed authorization: expected `Bearer <token>`/],
        [`Bearer ${tokens.viewer.slice(0, -1)}`, /malformed token/],
        [bearer(tokens.unknown), /unknown token/],
        [bearer(tokens.expired), /token old expired at 2020-01-01/],
      ];
      for (const [authorization, why] of cases) {
        const before = logs.length;
        const r = await call(c, method, authorization);
        assert.ok(
          r instanceof AuthError && r.code === "unauthenticated",
          `${authorization}: ${failureOf(r)}`,
        );
        assert.match(r.message, why);
        const refusals = logs.slice(before).filter((l) => l["msg"] === "refused a call");
        assert.equal(refusals.length, 1, JSON.stringify(logs.slice(before)));
        assert.equal(refusals[0]?.["method"], "ListRuns");
        assert.equal(refusals[0]?.["failure"], "unauthenticated");
        assert.match(String(refusals[0]?.["peer"]), /127\.0\.0\.1/);
        assert.match(String(refusals[0]?.["reason"]), why);
      }
      const text = JSON.stringify(logs);
      for (const t of allTokens(tokens)) assert.ok(!text.includes(t.slice(4)), "a token reached the log");
      assert.ok(!text.includes("not-a-token") && !text.includes("dXNlcjpwYXNz"));
    });
  });

  test("anonymous: viewer lets calls without a token read, not write", async () => {
    const anon = parseAuthConfig(authFileText(tokens, "anonymous: viewer\n"), "auth.yaml");
    await serve({ authorizer: rpcAuthorizer(Authenticator.fromConfig(anon)) }, async ({ client }) => {
      const c = client();
      assert.equal(await call(c, StagefarmService.method.listRuns), "ok");
      const r = await call(c, StagefarmService.method.submitRun);
      assert.ok(r instanceof AuthError && r.code === "permission_denied", failureOf(r));
      assert.match(r.message, /an anonymous caller has role viewer; SubmitRun needs submitter/);
      // A bad token is still refused, not downgraded to anonymous.
      const bad = await call(c, StagefarmService.method.listRuns, bearer(tokens.unknown));
      assert.ok(bad instanceof AuthError && bad.code === "unauthenticated", failureOf(bad));
    });
  });

  test("open mode (no auth file) serves everyone but still refuses an RPC without a row", async () => {
    const open = rpcAuthorizer(Authenticator.open(), { listRuns: "viewer" });
    const lax: CallAuthorizer = { authorize: (c) => open.authorize(c), checkCovers: () => undefined };
    await serve({ authorizer: lax }, async ({ client }) => {
      assert.equal(await call(client(), StagefarmService.method.listRuns), "ok");
      const r = await call(client(), StagefarmService.method.drainAgent);
      assert.ok(r instanceof AuthError && r.code === "permission_denied", failureOf(r));
    });
  });

  test("a request larger than the server accepts is refused, with a log line, after authentication", async () => {
    await serve({ authorizer, maxReceiveMessageLength: 64 * 1024 }, async ({ client, logs }) => {
      const c = client();
      const big = { pipelineYaml: "x".repeat(200 * 1024) };
      const r = await c.submitRun(big, withToken(bearer(tokens.submitter))).then(
        () => "ok" as const,
        (err: unknown) => StagefarmError.from(err),
      );
      assert.ok(r instanceof StagefarmError && r.code === "invalid_argument", failureOf(r));
      assert.equal(r.details["grpcStatus"], "RESOURCE_EXHAUSTED");
      assert.match(r.message, /larger than the server accepts/);
      const line = logs.find(
        (l) => l["msg"] === "refused a call: the request is larger than this server accepts",
      );
      assert.ok(line !== undefined, JSON.stringify(logs));
      assert.match(String(line["method"]), /SubmitRun/);
      // Without a token the same request is refused for that, before its body is read.
      const anon = await c.submitRun(big, withToken(undefined)).then(
        () => "ok" as const,
        (err: unknown) => StagefarmError.from(err),
      );
      assert.ok(anon instanceof AuthError && anon.code === "unauthenticated", failureOf(anon));
    });
  });
});

describe("gRPC over TLS", () => {
  let dir = "";
  let fx: TlsFixtures;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-auth-tls-"));
    fx = await makeTlsFixtures(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const authorizer = rpcAuthorizer(Authenticator.fromConfig(config));
  const listRuns = StagefarmService.method.listRuns;

  const refusedTls = (logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
    logs.filter((l) => l["msg"] === "refused a TLS connection");

  test("a client trusting the farm's CA is served; one trusting another CA is refused", async () => {
    await serve({ authorizer, tls: { ...fx.server } }, async ({ client }) => {
      assert.equal(await call(client({ ca: fx.ca }), listRuns, bearer(tokens.viewer)), "ok");
      const r = await call(client({ ca: fx.otherCa }), listRuns, bearer(tokens.viewer));
      assert.ok(r instanceof StagefarmError && r.code === "unavailable", failureOf(r));
      assert.match(r.message, /self[- ]signed certificate|unable to verify/);
    });
  });

  test("a plain-text client of a TLS server is refused, and the server says why", async () => {
    await serve({ authorizer, tls: { ...fx.server } }, async ({ client, logs }) => {
      const r = await call(client(), listRuns, bearer(tokens.viewer));
      assert.ok(r instanceof StagefarmError && r.code === "unavailable", failureOf(r));
      await poll(() => refusedTls(logs).length > 0, { timeoutMs: 5000, what: "a log line" });
      assert.match(String(refusedTls(logs)[0]?.["reason"]), /not a TLS \(HTTP\/2\) client/);
    });
  });

  describe("mutual TLS", () => {
    const mtls = (): ServerTls => ({ ...fx.server, clientCa: fx.ca });

    test("a client with the farm's client certificate is served (and still needs its token)", async () => {
      await serve({ authorizer, tls: mtls() }, async ({ client }) => {
        const c = client({ ca: fx.ca, ...fx.client });
        assert.equal(await call(c, listRuns, bearer(tokens.viewer)), "ok");
        const r = await call(c, listRuns);
        assert.ok(r instanceof AuthError && r.code === "unauthenticated", failureOf(r));
      });
    });

    const refused: Array<[string, () => ClientTls, RegExp]> = [
      ["without a certificate", () => ({ ca: fx.ca }), /sent no certificate/],
      [
        "with another CA's certificate",
        () => ({ ca: fx.ca, ...fx.strangerClient }),
        /certificate was refused/,
      ],
      [
        "with an expired certificate",
        () => ({ ca: fx.ca, ...fx.expiredClient }),
        /has expired \(CERT_HAS_EXPIRED\)/,
      ],
    ];
    for (const [what, tls, why] of refused)
      test(`a client ${what} is refused, with one log line naming the reason`, async () => {
        const seen: Principal[] = [];
        await serve({ authorizer, tls: mtls(), seen }, async ({ client, logs }) => {
          const r = await call(client(tls()), StagefarmService.method.getRun, bearer(tokens.admin));
          assert.ok(r instanceof StagefarmError && r.code === "unavailable", failureOf(r));
          await poll(() => refusedTls(logs).length > 0, { timeoutMs: 5000, what: "a log line" });
          const lines = refusedTls(logs);
          assert.match(String(lines[0]?.["reason"]), why);
          assert.match(String(lines[0]?.["peer"]), /^127\.0\.0\.1:\d+$/);
          // grpc-js may try to connect more than once; every line says the same.
          assert.ok(
            lines.every((l) => why.test(String(l["reason"]))),
            JSON.stringify(lines),
          );
        });
        assert.deepEqual(seen, [], "no handler ran");
      });
  });
});
