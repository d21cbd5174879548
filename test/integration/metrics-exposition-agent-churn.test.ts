/**
 * The coordinator's /metrics over HTTP while agents come and go (join, drain and leave, stall
 * until the retention ends, return under an old id) and a client scrapes all the time: no scrape
 * fails, no series of a departed agent stays, and the exposition passes `promtool check metrics`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startHttpServer } from "../../coordinator/index.js";
import { silentLogger } from "../../shared/log.js";

import { asDisposable, checkMetrics, MetricsFarm, series, value } from "../helpers/metrics-farm.js";
import { parseExposition } from "../helpers/prometheus.js";
import { poll } from "../helpers/poll.js";

describe("stagefarm metrics (in-process farm)", () => {
  test("agents coming and going while /metrics is scraped: no stale series, no failed scrape", async () => {
    await using farm = await MetricsFarm.create({ offlineMs: 400, limits: { agentRetentionMs: 1500 } });
    const logger = silentLogger();
    await using http = asDisposable(
      await startHttpServer({
        host: "127.0.0.1",
        port: 0,
        metrics: farm.metrics,
        logger,
        accepting: () => true,
      }),
    );
    let scrapes = 0;
    const stop = new AbortController();
    const scraper = (async () => {
      while (!stop.signal.aborted) {
        const res = await fetch(`${http.url}/metrics`);
        assert.equal(res.status, 200);
        parseExposition(await res.text());
        scrapes++;
      }
    })();
    const ids = async (): Promise<string[]> =>
      series((await farm.scrape()).samples, "stagefarm_agent_last_heartbeat_timestamp_seconds")
        .map((s) => s.labels["agent"] ?? "")
        .sort();
    try {
      assert.deepEqual(await ids(), []);
      for (let i = 0; i < 6; i++) await farm.addAgent(`a${i}`, ["x86_64"], 1);
      await poll(async () => ((await ids()).length === 6 ? true : undefined), {
        timeoutMs: 5000,
        what: "six agents with series",
        intervalMs: 100,
      });
      // Two drain and leave, one stalls (no drain: it stays, offline, until the retention).
      for (const id of ["a0", "a1"]) {
        const a = farm.agents.get(id);
        await a?.service.drain(0);
        await a?.service.close();
      }
      farm.agents.get("a2")?.service.stopHeartbeats();
      await poll(async () => ((await ids()).join(",") === "a2,a3,a4,a5" ? true : undefined), {
        timeoutMs: 5000,
        what: "the drained agents' series to go",
        intervalMs: 100,
      });
      const mid = (await farm.scrape()).samples;
      assert.equal(value(mid, "stagefarm_agents", { state: "offline" }), 1);
      assert.equal(value(mid, "stagefarm_agent_slots", { agent: "a2" }), 0);
      await poll(async () => ((await ids()).join(",") === "a3,a4,a5" ? true : undefined), {
        timeoutMs: 5000,
        what: "the stalled agent's series to go after the retention",
        intervalMs: 100,
      });
      await farm.addAgent("a0", ["x86_64"], 1); // an agent coming back under its old id
      await poll(async () => ((await ids()).includes("a0") ? true : undefined), {
        timeoutMs: 5000,
        what: "a0 back",
        intervalMs: 100,
      });
    } finally {
      stop.abort();
      await scraper;
    }
    assert.ok(scrapes > 10, `scraped ${scrapes} times meanwhile`);
    await checkMetrics("the coordinator after agents came and went", (await farm.scrape()).text);
  });
});
