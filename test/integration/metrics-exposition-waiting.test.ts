/**
 * The coordinator's metrics while stages wait and run, over the in-process ports with real
 * executors: waiting reasons (no matching agent, agents busy, upstream), queue depth per pool and
 * running stages show, and all drain to zero once an agent with the missing label arrives.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";

import { MetricsFarm, series, value } from "../helpers/metrics-farm.js";
import { poll } from "../helpers/poll.js";

describe("stagefarm metrics (in-process farm)", () => {
  test("waiting reasons, queue depth and running stages while stages wait and run", async () => {
    await using farm = await MetricsFarm.create();
    await farm.addAgent("solo", ["solo"], 1);
    const yaml = `pipeline: waits
stages:
  one: { runner: shell, requires: [solo], script: sleep 1.5 }
  two: { runner: shell, requires: [solo], script: sleep 1.5 }
  gated:
    runner: shell
    requires: [catalyst]
    script: mkdir -p out && echo x > out/x
    outputs: { x: out/x }
  after:
    runner: shell
    inputs: { x: { from: gated.x } }
    script: "true"
`;
    const path = join(farm.dir, "waits.yaml");
    await writeFile(path, yaml);
    const doc = await farm.coordinator.submit({ yaml, path, params: {} });
    const seen = await poll(
      async () => {
        const { samples } = await farm.scrape();
        const w = (reason: string): number => value(samples, "stagefarm_stages_waiting", { reason });
        return w("no_matching_agent") === 1 && w("agents_busy") === 1 && w("upstream") === 1
          ? samples
          : undefined;
      },
      {
        timeoutMs: 10_000,
        what: "one stage without a matching agent, one behind a busy agent, one waiting upstream",
        intervalMs: 100,
      },
    );
    assert.equal(value(seen, "stagefarm_queue_depth", { pool: "catalyst" }), 1);
    assert.equal(value(seen, "stagefarm_queue_depth", { pool: "solo" }), 1);
    assert.equal(value(seen, "stagefarm_agent_busy_slots", { agent: "solo" }), 1);
    const running = series(seen, "stagefarm_stage_running_seconds");
    assert.equal(running.length, 1);
    assert.equal(running[0]?.labels["pipeline"], "waits");
    assert.ok(["one", "two"].includes(running[0]?.labels["stage"] ?? ""));
    // An agent with the missing label arrives: everything drains to zero.
    await farm.addAgent("cat", ["catalyst"], 1);
    await farm.coordinator.settled(doc.id);
    assert.equal((await farm.coordinator.getRun(doc.id)).status, "succeeded");
    const after = (await farm.scrape()).samples;
    assert.equal(value(after, "stagefarm_stages_waiting"), 0);
    assert.equal(value(after, "stagefarm_queue_depth"), 0);
    assert.equal(series(after, "stagefarm_stage_running_seconds").length, 0);
    assert.equal(value(after, "stagefarm_stage_queue_wait_seconds_count", { pool: "catalyst" }), 1);
  });
});
