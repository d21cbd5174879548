/**
 * The coordinator's and agents' metrics after a run over the in-process ports with real
 * executors (a fan-out pipeline on two agents): the expected series on the coordinator and on
 * each agent's /metrics, health endpoints, and both expositions passing `promtool check metrics`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startAgentHttpServer } from "../../agent/index.js";
import { silentLogger } from "../../shared/log.js";

import { asDisposable, checkMetrics, MetricsFarm, series, value } from "../helpers/metrics-farm.js";
import { parseExposition, type ExpositionSample } from "../helpers/prometheus.js";
import { poll } from "../helpers/poll.js";

const fan = (n: number, sleep = "0"): string => `pipeline: fan
stages:
  root:
    runner: shell
    script: mkdir -p out && head -c 100000 /dev/zero > out/r
    outputs: { r: out/r }
${Array.from(
  { length: n },
  (_, i) => `  leaf${i}:
    runner: shell
    inputs: { r: { from: root.r, unpack: false } }
    script: mkdir -p out && sleep ${sleep} && wc -c < inputs/r > out/o && echo ${i} >> out/o
    outputs: { o: out/o }
`,
).join("")}`;

describe("stagefarm metrics (in-process farm)", () => {
  test("a run: expected series on the coordinator and the agents, both pass promtool", async () => {
    await using farm = await MetricsFarm.create();
    const a1 = await farm.addAgent("a1", ["x86_64"], 2);
    const a2 = await farm.addAgent("a2", ["x86_64"], 2);
    const doc = await farm.run("fan", fan(4));
    assert.equal(doc.status, "succeeded");
    const { text, samples } = await farm.scrape();
    await checkMetrics("the coordinator", text);
    assert.equal(value(samples, "stagefarm_stages_total", { pipeline: "fan", result: "done" }), 5);
    assert.equal(value(samples, "stagefarm_cache_lookups_total", { kind: "stage", result: "miss" }), 5);
    assert.equal(value(samples, "stagefarm_cache_lookups_total", { kind: "binpkg", result: "hit" }), 0);
    assert.equal(value(samples, "stagefarm_stage_queue_wait_seconds_count", { pool: "any" }), 5);
    assert.equal(value(samples, "stagefarm_runs_total", { pipeline: "fan", outcome: "succeeded" }), 1);
    assert.equal(value(samples, "stagefarm_runs_active"), 0);
    // One duration series per stage, and the largest finite bucket covers two days.
    const counts = samples.filter((s) => s.name === "stagefarm_stage_duration_seconds_count");
    assert.deepEqual(counts.map((s) => s.labels["stage"]).sort(), [
      "leaf0",
      "leaf1",
      "leaf2",
      "leaf3",
      "root",
    ]);
    const les = series(samples, "stagefarm_stage_duration_seconds_bucket").map((s) => Number(s.labels["le"]));
    assert.ok(les.includes(86400) && les.includes(172800), "buckets reach 86400 s and beyond");
    // The fleet as the coordinator sees it: both agents, their slots, heartbeats, disk.
    await poll(
      async () =>
        value((await farm.scrape()).samples, "stagefarm_agents", { state: "idle" }) === 2 ? true : undefined,
      { timeoutMs: 5000, what: "both agents idle", intervalMs: 100 },
    );
    const fleet = (await farm.scrape()).samples;
    assert.deepEqual(
      series(fleet, "stagefarm_agent_slots").map((s) => [s.labels["agent"], s.value]),
      [
        ["a1", 2],
        ["a2", 2],
      ],
    );
    assert.equal(value(fleet, "stagefarm_agent_busy_slots"), 0);
    for (const s of series(fleet, "stagefarm_agent_last_heartbeat_timestamp_seconds"))
      assert.ok(Math.abs(s.value - Date.now() / 1000) < 10, `heartbeat timestamp of ${s.labels["agent"]}`);
    assert.equal(value(fleet, "stagefarm_agent_disk_free_bytes", { agent: "a1" }), 5 << 30);
    assert.equal(value(fleet, "stagefarm_stages_waiting"), 0);
    assert.equal(value(fleet, "stagefarm_queue_depth"), 0);

    // The agents' own endpoints: every stage ran somewhere, leaves downloaded root's output.
    const agentSamples: ExpositionSample[] = [];
    for (const [id, a] of [
      ["a1", a1],
      ["a2", a2],
    ] as const) {
      await using http = asDisposable(
        await startAgentHttpServer({
          host: "127.0.0.1",
          port: 0,
          metrics: a.metrics,
          logger: silentLogger(),
          accepting: () => !a.service.isDraining,
        }),
      );
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${http.url}/readyz`)).status, 200);
      const res = await fetch(`${http.url}/metrics`);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      const body = await res.text();
      await checkMetrics(`agent ${id}`, body);
      const parsed = parseExposition(body);
      assert.equal(value(parsed, "stagefarm_agent_info", { agent: id }), 1);
      assert.equal(value(parsed, "stagefarm_agent_work_dir_free_bytes"), 5 << 30);
      agentSamples.push(...parsed);
    }
    assert.equal(value(agentSamples, "stagefarm_agent_stages_total", { result: "succeeded" }), 5);
    assert.equal(value(agentSamples, "stagefarm_agent_claims_total", { result: "granted" }), 5);
    assert.ok(value(agentSamples, "stagefarm_artifact_bytes_total", { direction: "download" }) >= 4 * 100000);
    assert.ok(value(agentSamples, "stagefarm_artifact_bytes_total", { direction: "upload" }) >= 100000);
    assert.ok(
      value(agentSamples, "stagefarm_artifact_transfer_duration_seconds_count", { direction: "upload" }) >= 5,
    );
  });
});
