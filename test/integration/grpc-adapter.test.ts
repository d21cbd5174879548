/**
 * The gRPC adapter against a real grpc-js server on 127.0.0.1:0 (insecure credentials), serving
 * StagefarmService with a small in-test fake: encoding, errors, streaming, cancellation,
 * deadlines and shutdown.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { create, equals } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { credentials, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { PipelineError } from "../../shared/pipeline/index.js";
import {
  createGrpcClient,
  createGrpcServer,
  listen,
  type GrpcClient,
  type ServiceImpl,
} from "../../shared/grpc/index.js";
import { type GrpcListener } from "../../shared/grpc/testing.js";
import { RunSchema, RunStatus, StageState, type Run } from "../../proto/gen/stagefarm/v1/run_pb.js";
import { StagefarmService, type SubmitRunRequest } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { poll } from "../helpers/poll.js";

type Impl = Partial<ServiceImpl<typeof StagefarmService>>;

interface Harness {
  client: GrpcClient<typeof StagefarmService>;
  listener: GrpcListener;
  /** JSON log lines the server wrote. */
  logs: Array<Record<string, unknown>>;
}

function captureLogger(lines: Array<Record<string, unknown>>): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return pino({ level: "debug" }, sink);
}

/** Starts a server with `impl` and a client for it, runs `fn`, and always closes both. */
async function withServer(impl: Impl, fn: (h: Harness) => Promise<void>): Promise<void> {
  const logs: Array<Record<string, unknown>> = [];
  const server = createGrpcServer(StagefarmService, impl, { logger: captureLogger(logs) });
  const listener = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
  const client = createGrpcClient(StagefarmService, listener.address, credentials.createInsecure());
  try {
    await fn({ client, listener, logs });
  } finally {
    client.close();
    await listener.close(1000);
  }
  // Warnings and errors only where a test provokes them (a handler's internal error).
  const unexpected = logs.filter((l) => Number(l.level) >= 40 && l.msg !== "internal error in a handler");
  assert.deepEqual(unexpected, []);
}

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
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

describe("grpc adapter", () => {
  test("unary round trip keeps maps, timestamps, enums and nested messages", async () => {
    const created = new Date("2024-05-01T12:34:56.789Z");
    const params = { arch: "amd64", profile: "default/linux/amd64/23.0", ü: "✓" };
    const expected = create(RunSchema, {
      id: "r-1",
      pipelinePath: "p.yaml",
      params,
      status: RunStatus.RUNNING,
      createdAt: timestampFromDate(created),
      stages: [
        { name: "fetch", state: StageState.CACHED },
        { name: "build", state: StageState.WAITING, reason: "waiting", dependsOn: ["fetch"] },
      ],
    });
    let seen: SubmitRunRequest | undefined;
    const submitRun = (req: SubmitRunRequest): Promise<{ run: Run }> => {
      seen = req;
      return Promise.resolve({ run: expected });
    };
    await withServer({ submitRun }, async ({ client }) => {
      const res = await client.submitRun({ pipelineYaml: "stages: {}\n", pipelinePath: "p.yaml", params });
      assert.deepEqual({ ...seen?.params }, params);
      assert.equal(seen?.pipelineYaml, "stages: {}\n");
      assert.ok(res.run?.createdAt);
      assert.ok(equals(RunSchema, res.run, expected), "the run arrives as sent");
      assert.equal(timestampDate(res.run.createdAt).toISOString(), created.toISOString());
      assert.deepEqual(res.run.stages[1]?.dependsOn, ["fetch"]);
    });
  });

  test("bytes fields arrive as plain Uint8Arrays, not Buffers", async () => {
    const data = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    await withServer(
      {
        async *tailLogs(req) {
          await Promise.resolve();
          yield { chunk: { stage: req.stage, attempt: 2, data, offset: 1234n } };
        },
      },
      async ({ client }) => {
        const got = [];
        for await (const res of client.tailLogs({ runId: "r-1", stage: "build" })) got.push(res.chunk);
        assert.equal(got.length, 1);
        const chunk = got[0];
        assert.ok(chunk);
        assert.equal(chunk.stage, "build");
        assert.equal(chunk.offset, 1234n);
        assert.equal(Buffer.isBuffer(chunk.data), false);
        assert.equal(Object.getPrototypeOf(chunk.data), Uint8Array.prototype);
        assert.deepEqual([...chunk.data], [...data]);
      },
    );
  });

  test("a method the implementation leaves out answers UNIMPLEMENTED", async () => {
    await withServer({}, async ({ client }) => {
      const err = await rejection(client.drainAgent({ agentId: "a1" }));
      assert.equal(err.details.grpcStatus, "UNIMPLEMENTED");
      assert.equal(err.code, "internal");
      assert.match(err.message, /DrainAgent/);
    });
  });

  test("a StagefarmError reaches the client with its code and message", async () => {
    await withServer(
      {
        getRun: (req) => Promise.reject(new StagefarmError("not_found", `run ${req.runId} not found`)),
        retryStage: (req) =>
          Promise.reject(
            new StagefarmError("stage_failed", `stage ${req.stage} failed`, { details: { exitCode: 3 } }),
          ),
      },
      async ({ client }) => {
        const err = await rejection(client.getRun({ runId: "r-404" }));
        assert.equal(err.code, "not_found");
        assert.equal(err.message, "run r-404 not found");
        assert.equal(err.details.grpcStatus, "NOT_FOUND");
        const failed = await rejection(client.retryStage({ runId: "r-1", stage: "build" }));
        assert.equal(failed.code, "stage_failed");
        assert.equal(failed.details.exitCode, 3);
      },
    );
  });

  test("an invalid pipeline's issues reach the client", async () => {
    const issues = [
      {
        pos: { file: "bad.yaml", line: 4, col: 5 },
        message: "unknown key 'scirpt' (did you mean 'script'?)",
      },
      { pos: { file: "bad.yaml", line: 9, col: 11 }, message: "unknown stage 'biuld' in from: biuld.out" },
    ];
    await withServer({ submitRun: () => Promise.reject(new PipelineError(issues)) }, async ({ client }) => {
      const err = await rejection(client.submitRun({ pipelineYaml: "x", pipelinePath: "bad.yaml" }));
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, "invalid_pipeline");
      assert.deepEqual(err.issues, issues);
      assert.match(err.message, /^bad\.yaml:4:5: error: unknown key 'scirpt'/);
    });
  });

  test("a plain Error becomes INTERNAL without its message or stack, and is logged", async () => {
    await withServer(
      { listRuns: () => Promise.reject(new Error("password=hunter2 at /srv/secret/state.db")) },
      async ({ client, logs }) => {
        const err = await rejection(client.listRuns({}));
        assert.equal(err.code, "internal");
        assert.equal(err.details.grpcStatus, "INTERNAL");
        assert.doesNotMatch(err.message, /hunter2|secret|\.js:\d+/);
        const ref = /reference ([0-9a-f]+)/.exec(err.message)?.[1];
        assert.ok(ref, `the message names a reference: ${err.message}`);
        const logged = logs.find((l) => l.ref === ref);
        assert.ok(logged, "the error is logged with the reference");
        assert.match(JSON.stringify(logged.err), /hunter2/);
      },
    );
  });

  test("1000 streamed messages arrive in order", async () => {
    await withServer(
      {
        async *watchRun(req) {
          for (let i = 0; i < 1000; i++) {
            if (i % 100 === 0) await Promise.resolve();
            yield {
              event: { runId: req.runId, event: { case: "stage", value: { name: `s${i}`, attempt: i } } },
            };
          }
        },
      },
      async ({ client }) => {
        const names: string[] = [];
        for await (const { event } of client.watchRun({ runId: "r-7" })) {
          assert.equal(event?.runId, "r-7");
          if (event?.event.case === "stage") names.push(event.event.value.name);
        }
        assert.deepEqual(
          names,
          Array.from({ length: 1000 }, (_, i) => `s${i}`),
        );
      },
    );
  });

  test("a slow reader holds the writer back (backpressure)", async () => {
    const chunk = new Uint8Array(256 * 1024).fill(7);
    const total = 160;
    let produced = 0;
    let received = 0;
    let maxLead = 0;
    await withServer(
      {
        async *tailLogs() {
          for (let i = 0; i < total; i++) {
            await Promise.resolve();
            maxLead = Math.max(maxLead, produced - received);
            produced++;
            yield { chunk: { data: chunk, offset: BigInt(i * chunk.length) } };
          }
        },
      },
      async ({ client }) => {
        for await (const res of client.tailLogs({ runId: "r", stage: "s" })) {
          assert.equal(res.chunk?.data.length, chunk.length);
          received++;
          await new Promise((r) => setImmediate(r));
        }
      },
    );
    assert.equal(received, total);
    // Without backpressure the writer would run all the way ahead of the reader.
    assert.ok(maxLead < total / 2, `the writer ran ${maxLead} messages ahead of the reader`);
  });

  test("breaking out of a stream aborts the server's signal and stops the handler", async () => {
    let serverSignal: AbortSignal | undefined;
    let handlerStopped = false;
    await withServer(
      {
        async *watchRun(req, ctx) {
          serverSignal = ctx.signal;
          try {
            for (let i = 0; !ctx.signal.aborted; i++) {
              await new Promise((r) => setTimeout(r, 1));
              yield { event: { runId: req.runId, event: { case: "status", value: RunStatus.RUNNING } } };
            }
          } finally {
            handlerStopped = true;
          }
        },
      },
      async ({ client }) => {
        let n = 0;
        for await (const _ of client.watchRun({ runId: "r" })) if (++n === 5) break;
        assert.equal(n, 5);
        await poll(() => serverSignal?.aborted === true, {
          timeoutMs: 5000,
          what: "the server's signal to abort",
        });
        assert.ok(serverSignal?.reason instanceof StagefarmError);
        await poll(() => handlerStopped, { timeoutMs: 5000, what: "the handler to stop" });
      },
    );
  });

  test("aborting the client's signal cancels a stream on both sides", async () => {
    let serverSignal: AbortSignal | undefined;
    await withServer(
      {
        async *watchRun(req, ctx) {
          serverSignal = ctx.signal;
          yield { event: { runId: req.runId } };
          await aborted(ctx.signal);
        },
      },
      async ({ client }) => {
        const ac = new AbortController();
        const iterate = async (): Promise<number> => {
          let n = 0;
          for await (const _ of client.watchRun({ runId: "r" }, { signal: ac.signal })) {
            n++;
            ac.abort();
          }
          return n;
        };
        const err = await rejection(iterate());
        assert.equal(err.code, "cancelled");
        await poll(() => serverSignal?.aborted === true, {
          timeoutMs: 5000,
          what: "the server's signal to abort",
        });
      },
    );
  });

  test("a passed deadline fails the call with timeout and aborts the handler", async () => {
    let serverSignal: AbortSignal | undefined;
    await withServer(
      {
        getRun: async (_req, ctx) => {
          serverSignal = ctx.signal;
          await aborted(ctx.signal);
          throw StagefarmError.from(ctx.signal.reason);
        },
      },
      async ({ client }) => {
        const started = Date.now();
        const err = await rejection(client.getRun({ runId: "r" }, { deadlineMs: 150 }));
        assert.equal(err.code, "timeout");
        assert.ok(Date.now() - started < 3000);
        await poll(() => serverSignal?.aborted === true, {
          timeoutMs: 5000,
          what: "the handler's signal to abort",
        });
      },
    );
  });

  test("close() ends open streams with unavailable and cuts hung calls after the grace", async () => {
    let streamSignal: AbortSignal | undefined;
    let unaryStarted = false;
    const impl: Impl = {
      async *watchRun(req, ctx) {
        streamSignal = ctx.signal;
        yield { event: { runId: req.runId } };
        await aborted(ctx.signal);
      },
      // Ignores its signal: only the end of the grace ends it.
      listAgents: () => {
        unaryStarted = true;
        return new Promise(() => undefined);
      },
    };
    await withServer(impl, async ({ client, listener }) => {
      const stream = client.watchRun({ runId: "r" })[Symbol.asyncIterator]();
      assert.equal((await stream.next()).done, false);
      const hung = rejection(client.listAgents({}));
      await poll(() => unaryStarted, { timeoutMs: 5000, what: "the unary call to start" });

      const graceMs = 400;
      const started = Date.now();
      const closing = listener.close(graceMs);
      assert.equal(listener.close(graceMs), closing, "close() is idempotent");
      const streamErr = await rejection(stream.next());
      assert.equal(streamErr.code, "unavailable");
      assert.match(streamErr.message, /shutting down/);
      assert.ok(streamSignal?.aborted);
      await closing;
      const took = Date.now() - started;
      assert.ok(took >= graceMs - 50, `close waited for the unary call (${took} ms)`);
      assert.ok(took < graceMs + 2000, `close finished soon after the grace (${took} ms)`);
      const hungErr = await hung;
      assert.equal(hungErr.code, "unavailable");
      assert.match(hungErr.message, /shut down before answering/);
    });
  });

  test("connecting to nothing fails with unavailable naming the address", async () => {
    let address = "";
    await withServer({}, async ({ listener }) => {
      address = listener.address;
      await listener.close(100);
    });
    const client = createGrpcClient(StagefarmService, address, credentials.createInsecure());
    try {
      const err = await rejection(client.getRun({ runId: "r" }, { deadlineMs: 2000 }));
      assert.ok(err.code === "unavailable" || err.code === "timeout", err.code);
      assert.match(err.message, new RegExp(address.replace(/\./g, "\\.")));
    } finally {
      client.close();
    }
  });
});
