/**
 * The job's `stage` is checked by the agent (shared/pipeline/stage-schema.ts): every stage the
 * shipped pipelines resolve to passes unchanged, and a hostile or malformed one is refused — the
 * claimed job is reported failed with `invalid_argument` naming the problem, the executor never
 * sees it, and the agent goes on taking work.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { AgentService } from "../../agent/index.js";
import { MemoryBus } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob, StageResult, StageWorker } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import {
  loadPipeline,
  parsePipeline,
  resolvePipeline,
  type ResolvedStage,
} from "../../shared/pipeline/index.js";
import { parseJobStage } from "../../shared/pipeline/index.js";
import { MemoryEventLog, MemoryJobQueue } from "../../shared/ports/index.js";
import {
  agentEventSchema,
  decodeMessage,
  encodeMessage,
  type AgentEvent,
} from "../../shared/protocol/messages.js";
import { poolsFor } from "../../shared/protocol/pools.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { RUNNER_KINDS } from "../../shared/runner-kinds.js";
import { poll } from "../helpers/poll.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const DIGEST = "a".repeat(64);

/** What a stage looks like on the wire: the resolved stage through JSON. */
const wire = (s: ResolvedStage): Record<string, unknown> =>
  JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

/** What the shipped pipelines do not show without their required params: fetch, limits, retry_on, a release. */
const EXTRA = `
pipeline: extra
stages:
  get:
    runner: fetch
    sources:
      tarball: { url: "https://example.org/x.tar.gz", sha256: "${DIGEST}" }
  use:
    runner: shell
    description: build with limits
    inputs:
      tarball: { from: get.tarball, unpack: false }
      seed: { artifact: "${DIGEST}", path: seed.tar }
      pinned: { url: "https://example.org/y.tar", sha256: "${DIGEST}", unpack: true }
    script: "true"
    outputs:
      out: { path: out, kind: tree, exclude: ["./tmp/*"] }
    limits: { memory: 64M, cpu: 0.5 }
    retries: 2
    retry_on: [infra, exit:75]
    estimate: 10m
    timeout: 1h
    clamp_mtime: false
`;

async function shippedStages(): Promise<ResolvedStage[]> {
  const stages: ResolvedStage[] = resolvePipeline(parsePipeline(EXTRA, "extra.yaml"), {});
  for (const name of ["demo", "gentoo-bootstrap", "catalyst-release"]) {
    const spec = await loadPipeline(join(REPO, "pipelines", name, "pipeline.yaml"));
    // Stages missing a required param are never dispatched: only the others travel as jobs.
    stages.push(
      ...resolvePipeline(spec, {}, { allowMissing: true }).filter((s) => s.paramsMissing === undefined),
    );
  }
  return stages;
}

const POS = { file: "p.yaml", line: 1, col: 1 };

function inputAt(path: string): Record<string, unknown> {
  return { t: "artifact", name: "seed", digest: DIGEST, path, unpack: false, pos: POS };
}

const SHELL_STAGE: ResolvedStage = {
  pipeline: "p",
  name: "build",
  runner: "shell",
  requires: [],
  inputs: [{ t: "artifact", name: "seed", digest: DIGEST, path: "inputs/seed", unpack: false, pos: POS }],
  outputs: [{ name: "out", path: "out", exclude: [], pos: POS }],
  env: { GREETING: "hi" },
  script: "echo hi > out",
  sources: [],
  with: {},
  timeoutMs: 60_000,
  retries: 0,
  clampMtime: true,
  platform: "linux/x86_64",
  paramsUsed: [],
};

/** Hostile stages: each is the good one with one thing wrong, and the key path the error names. */
const HOSTILE: Array<{ what: string; stage: unknown; names: string }> = [
  {
    what: "an unknown runner",
    stage: { ...wire(SHELL_STAGE), runner: "sh -c reboot" },
    names: "stage.runner",
  },
  {
    what: "an input path escaping the workspace",
    stage: { ...wire(SHELL_STAGE), inputs: [inputAt("../../etc/passwd")] },
    names: "stage.inputs[0].path",
  },
  {
    what: "an output at an absolute path",
    stage: { ...wire(SHELL_STAGE), outputs: [{ name: "out", path: "/etc", exclude: [], pos: POS }] },
    names: "stage.outputs[0].path",
  },
  {
    what: "an env name that is not one",
    stage: { ...wire(SHELL_STAGE), env: { "LD_PRELOAD=/tmp/x.so A": "1" } },
    names: "stage.env",
  },
  {
    what: "a timeout that is not a number",
    stage: { ...wire(SHELL_STAGE), timeoutMs: "forever" },
    names: "stage.timeoutMs",
  },
  {
    what: "an artifact digest that is not a sha256",
    stage: { ...wire(SHELL_STAGE), inputs: [{ ...inputAt("inputs/seed"), digest: "../../x" }] },
    names: "stage.inputs[0].digest",
  },
  { what: "a missing name", stage: { ...wire(SHELL_STAGE), name: undefined }, names: "stage.name" },
];

void describe("the job's stage, checked by the agent", () => {
  void test("every stage the shipped pipelines resolve to passes unchanged, and one of every runner kind", async () => {
    const stages = await shippedStages();
    assert.deepEqual(new Set(stages.map((s) => s.runner)), new Set(RUNNER_KINDS));
    for (const s of stages) assert.deepEqual(parseJobStage(wire(s)), wire(s), `stage ${s.name}`);
  });

  void test("a malformed stage is refused with invalid_argument naming the key path", () => {
    // (Not even an object: the job's envelope refuses it, shared/protocol/messages.ts.)
    for (const h of [...HOSTILE, { what: "not an object", stage: ["rm", "-rf", "/"], names: "stage:" }])
      assert.throws(
        () => parseJobStage(h.stage),
        (err: unknown) =>
          err instanceof StagefarmError && err.code === "invalid_argument" && err.message.includes(h.names),
        h.what,
      );
  });

  void test("the agent fails a claimed job with a malformed stage, runs none of it, and keeps working", async () => {
    const queue = new MemoryJobQueue({ ackWaitMs: 5_000 });
    const events = new MemoryEventLog();
    const bus = new MemoryBus();
    const subj = subjects("sf");
    const executed: string[] = [];
    const executor: StageWorker = {
      execute(job: StageJob): Promise<StageResult> {
        executed.push(job.stage.name);
        return Promise.resolve({ outputs: {}, logPath: "logs/x", durationMs: 1 });
      },
    };
    const claims = bus.serve(subj.claims, () =>
      Promise.resolve(encodeMessage({ ok: true, token: "t".repeat(32), leaseMs: 60_000 })),
    );
    const agent = new AgentService({
      agentId: "a1",
      hostname: "localhost",
      labels: [],
      slots: 1,
      queue,
      events,
      bus,
      subjects: subj,
      executor,
      logger: silentLogger(),
      heartbeatMs: 60_000,
      claimTimeoutMs: 5_000,
      version: "test",
      diskFreeBytes: () => Promise.resolve(1 << 30),
    });
    const finished = new Map<string, Extract<AgentEvent, { t: "finished" }>>();
    const stop = new AbortController();
    const reading = (async () => {
      for await (const e of events.consume("test", { signal: stop.signal })) {
        const d = decodeMessage(agentEventSchema, e.payload);
        if (d.ok && d.value.t === "finished") finished.set(d.value.stage, d.value);
        e.ack();
      }
    })();
    try {
      agent.start();
      const pool = poolsFor([])[0] ?? "";
      const jobs = [
        ...HOSTILE.map((h, i) => ({ stageName: `hostile-${i}`, stage: h.stage })),
        { stageName: "good", stage: wire(SHELL_STAGE) },
      ];
      for (const [i, j] of jobs.entries())
        await queue.publish(
          pool,
          encodeMessage({
            v: 1,
            runId: "run-1",
            stage: j.stage,
            stageName: j.stageName,
            key: DIGEST,
            inputs: {},
            attempt: 1,
            dispatch: i + 1,
            jobs: 1,
          }),
        );
      await poll(() => finished.size === jobs.length, { timeoutMs: 20_000, what: "every job's outcome" });
      for (const [i, h] of HOSTILE.entries()) {
        const result = finished.get(`hostile-${i}`)?.result;
        assert.equal(result?.ok, false, h.what);
        assert.ok(result !== undefined && !result.ok);
        assert.equal(result.error.code, "invalid_argument", h.what);
        assert.match(result.error.message, /^the job's stage is malformed: /, h.what);
        assert.ok(result.error.message.includes(h.names), `${h.what}: ${result.error.message}`);
      }
      assert.equal(finished.get("good")?.result.ok, true);
      assert.deepEqual(executed, ["build"], "only the good stage reached the executor");
    } finally {
      await agent.close();
      stop.abort();
      await events.close();
      await reading.catch(() => undefined);
      claims.unsubscribe();
      await queue.close();
      await bus.close();
    }
  });
});
