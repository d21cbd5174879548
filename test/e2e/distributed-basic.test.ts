/**
 * The distributed farm as separate processes (nats-server, s3rver, `stagefarm coordinator`,
 * `stagefarm agent`s) driven by the CLI: stages spread over agents with artifacts crossing
 * them through S3 and a fully cached rerun; label routing with its waiting reason; a bad
 * pipeline refused with file:line:col while the coordinator stays healthy; a failed stage
 * retried from the CLI while a sibling still runs, with both attempts shown; drain and undrain.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import { fanoutExpected, fanoutPipeline, withFarm, type RunSummary } from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

describe("distributed farm (processes)", () => {
  test("a fan-out spreads over three agents, artifacts cross agents, and a rerun is fully cached", async () => {
    await withFarm({ agents: [{ id: "a1" }, { id: "a2" }, { id: "a3" }] }, async (farm) => {
      const token = randomBytes(4).toString("hex");
      const file = await farm.writePipeline("fan.yaml", fanoutPipeline(token, 6, 1));
      // Every agent has reported to the coordinator (heartbeats) before the run starts.
      const agents = await poll(
        async () => {
          const rows = await farm.cliJson<Array<{ id: string; state: string; labels: string[] }>>([
            "agents",
            "--json",
          ]);
          return rows.length === 3 && rows.every((r) => r.state === "idle") ? rows : undefined;
        },
        { timeoutMs: 20_000, what: "three idle agents", intervalMs: 100 },
      );
      assert.deepEqual(
        agents.map((a) => [a.id, a.labels]),
        [
          ["a1", ["x86_64"]],
          ["a2", ["x86_64"]],
          ["a3", ["x86_64"]],
        ],
      );
      const first = await farm.cliJson<RunSummary>(["submit", file, "--watch", "--json"]);
      assert.equal(first.status, "succeeded");
      assert.deepEqual(first.stages, { executed: 8, cached: 0, failed: 0, skipped: 0, cancelled: 0 });

      const leafAgents = Array.from({ length: 6 }, (_, i) => first.results[`leaf${i}`]?.agent);
      assert.ok(
        leafAgents.every((a) => a !== undefined && ["a1", "a2", "a3"].includes(a)),
        `leaves name their agents: ${leafAgents.join(",")}`,
      );
      const distinct = new Set([...leafAgents, first.results["root"]?.agent, first.results["join"]?.agent]);
      assert.ok(distinct.size >= 2, `stages ran on several agents: ${[...distinct].join(",")}`);
      const rootAgent = first.results["root"]?.agent;
      assert.ok(
        leafAgents.some((a) => a !== rootAgent),
        `some leaf ran on another agent than root (${rootAgent ?? "?"}) and read its output from S3`,
      );

      // The join's output: every leaf saw the root's output, in input order.
      const expected = fanoutExpected(token, 6);
      const all = first.results["join"]?.outputs["all"];
      assert.equal(all?.digest, sha256(expected), "the join output's digest is that of the expected content");
      assert.equal(all?.size, Buffer.byteLength(expected));
      const log = await farm.cli(["logs", first.run, "join"]);
      assert.equal(log.code, 0, log.stderr);
      assert.ok(log.stdout.includes(expected), `join log:\n${log.stdout}`);
      // The tail of the stored log: a ranged read from the store.
      const tail = await farm.cli(["logs", first.run, "join", "--bytes", "20"]);
      assert.equal(tail.code, 0, tail.stderr);
      assert.equal(tail.stdout, log.stdout.slice(-20));

      const again = await farm.cliJson<RunSummary>(["submit", file, "--watch", "--json"]);
      assert.equal(again.status, "succeeded");
      assert.notEqual(again.run, first.run);
      assert.deepEqual(again.stages, { executed: 0, cached: 8, failed: 0, skipped: 0, cancelled: 0 });
      assert.equal(again.results["join"]?.outputs["all"]?.digest, all?.digest);
    });
  });

  test("a stage requiring a label waits with its reason until an agent with that label connects", async () => {
    await withFarm({ agents: [{ id: "plain" }] }, async (farm) => {
      const file = await farm.writePipeline(
        "cat.yaml",
        `pipeline: labels
stages:
  prep:
    runner: shell
    script: mkdir -p out && echo prep > out/p
    outputs: { p: out/p }
  cat:
    runner: shell
    requires: [catalyst]
    inputs: { p: { from: prep.p, unpack: false } }
    script: mkdir -p out && cat inputs/p > out/x && echo catalyst >> out/x
    outputs: { x: out/x }
`,
      );
      const submitted = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
      const waiting = await poll(
        async () => {
          const s = await farm.cliJson<RunSummary>(["run", "show", submitted.run, "--json"]);
          const c = s.results["cat"];
          return c?.reason === "no agent with labels catalyst" ? s : undefined;
        },
        { timeoutMs: 20_000, what: "stage cat to wait for a catalyst agent", intervalMs: 100 },
      );
      assert.equal(waiting.status, "running");
      assert.equal(waiting.results["prep"]?.state, "done");
      assert.equal(waiting.results["prep"]?.agent, "plain");
      assert.equal(waiting.results["cat"]?.state, "ready");

      await farm.startAgent("cat1", ["x86_64", "catalyst"]);
      const done = await poll(
        async () => {
          const s = await farm.cliJson<RunSummary>(["run", "show", submitted.run, "--json"]);
          return s.status === "running" ? undefined : s;
        },
        { timeoutMs: 30_000, what: "the run to finish", intervalMs: 100 },
      );
      assert.equal(done.status, "succeeded");
      assert.equal(done.results["cat"]?.state, "done");
      assert.equal(done.results["cat"]?.agent, "cat1");
      assert.equal(done.results["cat"]?.outputs["x"]?.digest, sha256("prep\ncatalyst\n"));
    });
  });

  test("an invalid pipeline is refused with file:line:col and exit status 2; the coordinator stays healthy", async () => {
    await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
      const file = await farm.writePipeline(
        "bad.yaml",
        "pipeline: bad\nstages:\n  a:\n    runner: shell\n    script: 'true'\n    inputs: { x: nowhere.out }\n",
      );
      const r = await farm.cli(["submit", file, "--watch", "--json"]);
      assert.equal(r.code, 2, `exit status 2, got ${r.code}:\n${r.stderr}`);
      assert.match(r.stderr, /bad\.yaml:6:\d+: error: .*unknown stage "nowhere"/);

      const health = await fetch(`${farm.httpUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(farm.coordinator?.alive, true);
      const runs = await farm.cliJson<RunSummary[]>(["runs", "--json"]);
      assert.deepEqual(runs, [], "nothing was stored for the refused pipeline");

      // And it still runs a good pipeline.
      const good = await farm.writePipeline(
        "good.yaml",
        "pipeline: good\nstages:\n  a:\n    runner: shell\n    script: mkdir -p out && echo ok > out/x\n    outputs: { x: out/x }\n",
      );
      const s = await farm.cliJson<RunSummary>(["submit", good, "--watch", "--json"]);
      assert.equal(s.status, "succeeded");
      assert.equal(s.results["a"]?.agent, "a1");
    });
  });
  test("a failed stage retried from the CLI while a sibling runs runs as attempt 2; drain and undrain; run show lists both attempts", async () => {
    await withFarm({ agents: [{ id: "a1", slots: 2 }] }, async (farm) => {
      const dir = await mkdtemp(join(tmpdir(), "sf-retry-"));
      try {
        const fixed = join(dir, "fixed");
        const release = join(dir, "release");
        const file = await farm.writePipeline(
          "flaky.yaml",
          `pipeline: flaky
stages:
  flaky:
    runner: shell
    script: test -f ${fixed} && mkdir -p out && echo ok > out/x
    outputs: { x: out/x }
  slow:
    runner: shell
    script: while [ ! -f ${release} ]; do sleep 0.05; done
`,
        );
        const { run } = await farm.cliJson<{ run: string }>(["submit", file, "--json"]);
        const show = () => farm.cliJson<RunSummary>(["run", "show", run, "--json"]);
        const status = (want: string) =>
          poll(
            async () => {
              const s = await show();
              return s.status === want ? s : undefined;
            },
            { timeoutMs: 30_000, what: `the run to be ${want}`, intervalMs: 100 },
          );
        const flakyFailed = await poll(
          async () => {
            const s = await show();
            return s.results["flaky"]?.state === "failed" ? s : undefined;
          },
          { timeoutMs: 30_000, what: "flaky to fail while slow runs", intervalMs: 100 },
        );
        assert.equal(flakyFailed.status, "running");
        // Drained, a1 finishes slow but takes no new stage: the retried flaky waits until undrain.
        assert.equal((await farm.cli(["drain", "a1"])).code, 0);
        await writeFile(fixed, "");
        const retried = await farm.cli(["retry", run, "flaky"]);
        assert.equal(retried.code, 0, retried.stderr);
        await writeFile(release, "");
        await poll(async () => ((await show()).results["slow"]?.state === "done" ? true : undefined), {
          timeoutMs: 30_000,
          what: "slow to finish on the drained agent",
          intervalMs: 100,
        });
        assert.equal((await show()).status, "running");
        const undrained = await farm.cliJson<{ draining: boolean }>(["undrain", "a1", "--json"]);
        assert.equal(undrained.draining, false);
        const done = await status("succeeded");
        assert.equal(done.results["flaky"]?.state, "done");
        const shown = await farm.cli(["run", "show", run]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(
          shown.stdout,
          /attempt 1 on a1: failed, [^\n]*\(stage "flaky" failed: script exited with status 1\)/,
        );
        assert.match(shown.stdout, /attempt 2 on a1: succeeded/);
        // Each attempt kept its own log.
        const log = await farm.cli(["logs", run, "flaky", "--attempt", "1"]);
        assert.equal(log.code, 0, log.stderr);
        assert.match(log.stdout, /attempt 1/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
