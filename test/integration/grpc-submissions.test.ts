/**
 * The gRPC API of a real Coordinator (in-process ports) on a real grpc-js server: a request
 * that does not decode is INVALID_ARGUMENT (not INTERNAL), a hostile SubmitRun is refused
 * while other calls are answered (its parse runs in a worker), `pipeline_path` is only a label
 * (no file is read), and messages echo a caller's id escaped and cut.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client, credentials, Metadata, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { loadStagefarmApi } from "../../coordinator/index.js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import { createGrpcClient, createGrpcServer, listen, type GrpcClient } from "../../shared/grpc/index.js";
import { silentLogger } from "../../shared/log.js";
import { aliasBomb } from "../helpers/hostile-pipelines.js";
import { MemoryFarm } from "../helpers/memory-farm.js";

async function withApi(
  fn: (client: GrpcClient<typeof StagefarmService>, address: string) => Promise<void>,
): Promise<void> {
  await using farm = await MemoryFarm.create({ submissionLimits: { timeoutMs: 3000 } });
  const createStagefarmApi = await loadStagefarmApi();
  const server = createGrpcServer(
    StagefarmService,
    createStagefarmApi({
      coordinator: farm.coordinator,
      store: farm.store,
      bus: farm.bus,
      subjects: farm.subjects,
    }),
    { logger: silentLogger() },
  );
  const listener = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
  const client = createGrpcClient(StagefarmService, listener.address, credentials.createInsecure());
  try {
    await fn(client, listener.address);
  } finally {
    client.close();
    await listener.close(1000);
  }
}

async function rejection(p: Promise<unknown>): Promise<StagefarmError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, `a StagefarmError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to fail");
}

/** Sends `bytes` as the request of `path` (unary or server streaming); resolves with the status. */
function rawCall(address: string, path: string, bytes: Buffer, streaming: boolean): Promise<ServiceError> {
  const raw = new Client(address, credentials.createInsecure());
  const id = (b: Buffer): Buffer => b;
  return new Promise<ServiceError>((resolve, reject) => {
    const done = (err: ServiceError | null): void => {
      raw.close();
      if (err === null) reject(new Error(`${path} accepted a malformed request`));
      else resolve(err);
    };
    if (!streaming) {
      raw.makeUnaryRequest(path, id, id, bytes, new Metadata(), {}, (err) => done(err));
      return;
    }
    const call = raw.makeServerStreamRequest(path, id, id, bytes, new Metadata(), {});
    call.on("data", () => undefined);
    call.on("error", (err: ServiceError) => done(err));
    call.on("end", () => done(null));
  });
}

describe("gRPC API: bad requests", () => {
  test("a request that does not decode is INVALID_ARGUMENT, unary and streaming", async () => {
    await withApi(async (_client, address) => {
      // Field 1 (run_id) says 127 bytes follow; none do.
      const truncated = Buffer.from([0x0a, 0x7f]);
      for (const [method, streaming] of [
        ["GetRun", false],
        ["SubmitRun", false],
        ["WatchRun", true],
      ] as const) {
        const err = await rawCall(address, `/stagefarm.v1.StagefarmService/${method}`, truncated, streaming);
        assert.equal(err.code, status.INVALID_ARGUMENT, `${method}: ${err.details}`);
        assert.match(err.details, /is not a valid stagefarm\.v1\.\w+ message/);
      }
    });
  });

  test("an alias bomb is refused while other calls are answered", async () => {
    await withApi(async (client) => {
      let settled = false;
      const submit = rejection(
        client.submitRun({ pipelineYaml: aliasBomb(), pipelinePath: "bomb.yaml" }),
      ).finally(() => (settled = true));
      const listed = await client.listRuns({});
      assert.deepEqual(listed.runs, []);
      assert.equal(settled, false, "ListRuns was answered while the bomb was being parsed");
      const err = await submit;
      assert.equal(err.code, "invalid_pipeline");
    });
  });

  test("pipeline_path is a label: no file is read", async () => {
    await withApi(async (client) => {
      const err = await rejection(
        client.submitRun({ pipelineYaml: "nope: 1\n", pipelinePath: "/etc/passwd" }),
      );
      assert.equal(err.code, "invalid_pipeline");
      assert.doesNotMatch(err.message, /root:/);
      assert.match(err.message, /^etc\/passwd:1:1: error: /m);
    });
  });

  test("a 5000-character id with NUL and RTL is echoed escaped and cut", async () => {
    await withApi(async (client) => {
      const err = await rejection(client.getRun({ runId: `\u0000\u202e${"r".repeat(5000)}` }));
      assert.equal(err.code, "not_found");
      assert.ok(!err.message.includes("\u0000") && !err.message.includes("\u202e"));
      assert.match(err.message, /\\u\{0\}\\u\{202e\}r+…\(\d+ more\)/);
      assert.ok(err.message.length < 300, `${err.message.length} characters`);
      const key = await rejection(client.getCacheEntry({ keyOrPrefix: `zz\u202e${"z".repeat(5000)}` }));
      assert.equal(key.code, "invalid_argument");
      assert.ok(key.message.length < 300 && !key.message.includes("\u202e"));
    });
  });
});
