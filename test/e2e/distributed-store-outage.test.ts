/**
 * A store (S3) outage longer than one request's retries, on a farm of real processes: the S3
 * server is stopped while a stage runs and finishes, and started again ~8 s later. Each S3
 * request is tried twice (STAGEFARM_S3_RETRIES=1, well under a second against a refused
 * connection), so without the outage budget the stage would fail (the old behaviour). Expected:
 * the run succeeds, the stage's output and log are stored once the store is back, every log is
 * readable, the coordinator held the next stage with "store unavailable since T" as its waiting
 * reason and said so in its metrics, and the trouble was logged as single lines without stacks.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import { withFarm, type FarmProcess, type RunSummary } from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

const OUTAGE_MS = 8000;

const pipeline = (token: string) => `pipeline: outage
stages:
  first:
    runner: shell
    script: mkdir -p out && echo "first ${token}" > out/x
    outputs: { x: out/x }
  during:
    runner: shell
    inputs: { x: { from: first.x, path: in/x } }
    script: sleep 2 && mkdir -p out/tree && cat in/x > out/tree/x && echo "during ${token}" >> out/tree/x && echo "log of during"
    outputs: { t: out/tree }
  after:
    runner: shell
    inputs: { t: { from: during.t, path: in } }
    script: mkdir -p out && cat in/x > out/x && echo "after ${token}" >> out/x
    outputs: { x: out/x }
`;

/** Warn and error records of a process that carry a stack (expected trouble must not). */
const stacked = (p: FarmProcess | undefined) =>
  (p?.logRecords ?? []).filter(
    (r) => typeof r["level"] === "number" && r["level"] >= 40 && JSON.stringify(r).includes('"stack"'),
  );

void describe("store outage (processes)", () => {
  void test("a store outage longer than the request retries delays the run instead of failing it", async () => {
    await withFarm(
      { agents: [{ id: "a1" }], farmEnv: { STAGEFARM_S3_RETRIES: "1", STAGEFARM_STORE_OUTAGE_BUDGET: "2m" } },
      async (farm) => {
        const token = randomBytes(4).toString("hex");
        const file = await farm.writePipeline("outage.yaml", pipeline(token));
        const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
        await farm.runningStage(run, ["during"]);
        farm.step("stopping the S3 server");
        await farm.s3.stop();
        const stoppedAt = Date.now();

        // The coordinator sees the outage and holds `after` with it as the waiting reason.
        const held = await poll(
          async () => {
            const s = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
            const reason = s.results["after"]?.reason;
            return reason?.startsWith("store unavailable since ") === true ? reason : undefined;
          },
          { timeoutMs: 20_000, what: "the waiting reason to show the store outage", intervalMs: 100 },
        );
        assert.match(held, /^store unavailable since \d{4}-\d\d-\d\dT[\d:.]+Z$/);
        assert.equal(await farm.metric("stagefarm_store_available"), 0);
        assert.ok((await farm.metric("stagefarm_store_outage_seconds")) > 0);
        // `during` finished its script in the outage: the agent holds its output and log.
        const agent = farm.agents.get("a1");
        await poll(
          () =>
            agent?.logRecords.some(
              (r) => r["msg"] === "store unavailable; retrying within the outage budget",
            ),
          { timeoutMs: 20_000, what: "the agent to meet the outage", intervalMs: 100 },
        );
        const left = OUTAGE_MS - (Date.now() - stoppedAt);
        if (left > 0)
          await poll(() => (Date.now() - stoppedAt >= OUTAGE_MS ? true : undefined), {
            timeoutMs: left + 1000,
            what: "the outage to last",
            intervalMs: 100,
          });
        farm.step("starting the S3 server again");
        await farm.s3.restart();

        const done = await poll(
          async () => {
            const s = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
            return s.status === "running" ? undefined : s;
          },
          { timeoutMs: 60_000, what: `run ${run} to finish`, intervalMs: 100 },
        );
        assert.equal(done.status, "succeeded", JSON.stringify(done.results));
        assert.deepEqual(done.stages, { executed: 3, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
        assert.equal(
          done.results["after"]?.outputs["x"]?.digest,
          sha256(`first ${token}\nduring ${token}\nafter ${token}\n`),
        );
        assert.equal(await farm.metric("stagefarm_store_available"), 1);

        for (const stage of ["first", "during", "after"]) {
          const log = await farm.cli(["logs", run, stage]);
          assert.equal(log.code, 0, `logs of ${stage}: ${log.stderr}`);
          assert.match(
            log.stdout,
            new RegExp(`>>> stage ${stage} succeeded in`),
            `the stored log of ${stage}`,
          );
        }
        assert.match((await farm.cli(["logs", run, "during"])).stdout, /log of during/);

        // Expected trouble is one line with its cause, no stack, in every process.
        assert.deepEqual(stacked(agent), [], "agent warnings without stacks");
        assert.deepEqual(stacked(farm.coordinator), [], "coordinator warnings without stacks");
        const outage = agent?.logRecords.find(
          (r) => r["msg"] === "store unavailable; retrying within the outage budget",
        );
        assert.equal(outage?.["code"], "unavailable");
        assert.match(String(outage?.["err"]), /unavailable/);
        assert.ok(
          agent?.logRecords.some(
            (r) => typeof r["msg"] === "string" && r["msg"].startsWith("store available again after"),
          ),
        );
      },
    );
  });
  void test("an outage longer than the budget fails the stage with a message naming the outage", async () => {
    await withFarm(
      { agents: [{ id: "a1" }], farmEnv: { STAGEFARM_S3_RETRIES: "1", STAGEFARM_STORE_OUTAGE_BUDGET: "3s" } },
      async (farm) => {
        const token = randomBytes(4).toString("hex");
        const file = await farm.writePipeline("outage.yaml", pipeline(token));
        const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
        await farm.runningStage(run, ["during"]);
        farm.step("stopping the S3 server for good");
        await farm.s3.stop();
        const done = await poll(
          async () => {
            const s = await farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
            return s.status === "running" ? undefined : s;
          },
          { timeoutMs: 60_000, what: `run ${run} to finish`, intervalMs: 100 },
        );
        assert.equal(done.status, "failed");
        const during = done.results["during"];
        assert.equal(during?.state, "failed");
        assert.match(
          during.error ?? "",
          /store outage longer than the outage budget: unavailable since \S+ \([^)]*budget 3\.0s\); last error: .*unavailable/,
        );
        assert.equal(done.results["after"]?.state, "skipped");
      },
    );
  });
});
