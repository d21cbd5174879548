/**
 * The stage executor through a store outage (a real filesystem store made to fail the way a
 * stopped S3 server does) and its logging: a finished stage's tree is packed into the workspace
 * and stored once the store answers, its log is stored from the file, and the failures of a
 * stage are left to the caller to log, once; expected trouble is logged without a stack, bugs
 * with one (captured pino output).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { StageExecutor } from "../../agent/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { logPathFor, type StageJob } from "../../shared/job.js";
import { errorFields, type Logger } from "../../shared/log.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import {
  FsArtifactStore,
  outageTolerantStore,
  StoreOutage,
  type ArtifactStore,
} from "../../shared/store/index.js";

const pos = { file: "pipeline.yaml", line: 1, col: 1 };

function stage(script: string): ResolvedStage {
  return {
    pipeline: "test",
    name: "build",
    runner: "shell",
    requires: [],
    inputs: [],
    outputs: [{ name: "tree", path: "out", exclude: [], pos }],
    env: {},
    sources: [],
    with: {},
    timeoutMs: 60_000,
    retries: 0,
    clampMtime: true,
    platform: "linux/x86_64",
    paramsUsed: [],
    script,
  };
}

function s3Down(what: string): StagefarmError {
  return new StagefarmError(
    "unavailable",
    `${what}: the S3 server is unavailable after 2 attempts (ECONNREFUSED)`,
    {
      details: { store: "s3://127.0.0.1:1/b", s3Code: "ECONNREFUSED", attempts: 2 },
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    },
  );
}

/** The captured records of a pino logger. */
function capture(): { logger: Logger; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  return {
    logger: pino({ level: "debug" }, sink),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** `store` failing like a stopped S3 server for its first `failures` uploads and stats. */
function flaky(store: ArtifactStore, failures: number): { store: ArtifactStore; calls: string[] } {
  const calls: string[] = [];
  let left = failures;
  const failing = new Set(["putBlobFile", "putLog", "statBlob", "putBlob"]);
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const fn = (v as (...a: unknown[]) => Promise<unknown>).bind(target);
      if (typeof prop !== "string" || !failing.has(prop)) return fn;
      return (...a: unknown[]) => {
        calls.push(prop);
        if (left > 0) {
          left--;
          return Promise.reject(s3Down(`${prop} in s3://127.0.0.1:1/b`));
        }
        return fn(...a);
      };
    },
  });
  return { store: proxy, calls };
}

void describe("StageExecutor through a store outage", () => {
  let dir: string;
  let fs: FsArtifactStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-exec-outage-"));
    fs = await FsArtifactStore.open(join(dir, "store"));
  });
  after(async () => {
    await fs.close();
    await rm(dir, { recursive: true, force: true });
  });

  const job = (script: string, attempt: number): StageJob => ({
    runId: "r1",
    stage: stage(script),
    key: "k".repeat(64),
    inputs: {},
    attempt,
  });

  void test("outputs and the log of a stage finished during an outage are stored when the store is back", async () => {
    const { logger, records } = capture();
    const outage = new StoreOutage({ budgetMs: 60_000, baseBackoffMs: 20, maxBackoffMs: 100, logger });
    const { store: down, calls } = flaky(fs, 5);
    const executor = new StageExecutor({
      store: outageTolerantStore(down, outage),
      outage,
      workRoot: join(dir, "work"),
      logger,
      runners: [createShellRunner()],
    });
    const result = await executor.execute(job("mkdir -p out && echo built > out/f && echo hello", 1), {
      signal: new AbortController().signal,
      jobs: 1,
    });
    assert.equal(outage.unavailableSince, undefined);
    assert.ok(!calls.includes("putBlob"), `the tree went through a spooled file: ${calls.join(",")}`);
    assert.ok(calls.filter((c) => c === "putBlobFile").length > 1, "the upload was tried again");
    const tree = result.outputs["tree"];
    assert.ok(tree !== undefined && (await fs.statBlob(tree.digest))?.size === tree.size);
    const log = await text(await fs.getLog(logPathFor("r1", "build", 1)));
    assert.match(log, /hello\n/);
    assert.match(log, />>> stage build succeeded in/);
    const warned = records().filter(
      (r) => r["msg"] === "store unavailable; retrying within the outage budget",
    );
    assert.equal(warned.length, 1, "one line when the outage begins");
    assert.equal(warned[0]?.["code"], "unavailable");
    assert.match(String(warned[0]?.["err"]), /S3 server is unavailable/);
    assert.equal(warned[0]?.["cause"], "connect ECONNREFUSED 127.0.0.1:1");
    assert.ok(
      records().every((r) => !JSON.stringify(r).includes('"stack"')),
      "no stack for expected trouble",
    );
  });

  void test("a failed stage is not logged by the executor: the caller logs it, once", async () => {
    const { logger, records } = capture();
    const executor = new StageExecutor({
      store: fs,
      workRoot: join(dir, "work"),
      logger,
      runners: [createShellRunner()],
    });
    await assert.rejects(
      executor.execute(job("echo about to fail; exit 3", 2), {
        signal: new AbortController().signal,
        jobs: 1,
      }),
      (e: unknown) => e instanceof StagefarmError && e.code === "stage_failed",
    );
    const failed = records().filter((r) => typeof r["msg"] === "string" && r["msg"].includes("failed"));
    assert.deepEqual(failed, [], "the executor leaves logging the failure to its caller");
  });

  void test("errorFields: one line with the cause for coded errors, the stack for bugs", () => {
    const { logger, records } = capture();
    logger.warn(errorFields(s3Down("storing log logs/r1/build/1.log")), "expected");
    logger.error(errorFields(new TypeError("x is undefined")), "a bug");
    const [expected, bug] = records();
    assert.equal(expected?.["code"], "unavailable");
    assert.equal(typeof expected?.["err"], "string");
    assert.equal(expected?.["cause"], "connect ECONNREFUSED 127.0.0.1:1");
    assert.ok(!JSON.stringify(expected).includes('"stack"'));
    assert.equal(bug?.["code"], "internal");
    const err = bug?.["err"] as { stack?: string; message?: string } | undefined;
    assert.match(err?.stack ?? "", /TypeError: x is undefined\n\s+at /);
  });
});
