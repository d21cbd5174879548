/**
 * The dashboard on the distributed coordinator (`stagefarm coordinator --http`, with NATS, S3
 * and an agent as processes): the page is served; a run submitted through the dashboard's API
 * runs on the agent, and the API shows its stages with the agent, the stored log from S3 by
 * byte range and the cache key material; after the coordinator is killed and started again
 * the run's event stream gives a fresh snapshot from KV.
 */
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/cli.js";
import { readSse } from "../helpers/dashboard-farm.js";
import { withFarm } from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: dash-dist
stages:
  hello:
    runner: shell
    script: |
      echo "hello from the agent"
      mkdir -p out && echo hi > out/x
    outputs: { o: out }
  after:
    runner: shell
    inputs: { i: hello.o }
    script: |
      echo "after hello"
      mkdir -p out && cp -r inputs out/
    outputs: { o: out }
`;

interface RunJ {
  id: string;
  status: string;
  stages?: Array<{ name: string; state?: string; agent?: string; attempts?: Array<{ agent?: string }> }>;
}

test("the dashboard of a distributed coordinator", { timeout: 120_000 }, async () => {
  await access(join(repoRoot, "dist/web/index.html")).catch(() => {
    throw new Error("dist/web/index.html is missing: run `npm run build` (it builds the dashboard)");
  });
  await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
    const base = farm.httpUrl;
    const page = await fetch(`${base}/ui/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app">/);
    await poll(
      async () => {
        const r = (await (await fetch(`${base}/api/dashboard/agents`)).json()) as {
          agents?: Array<{ id: string }>;
        };
        return r.agents?.some((a) => a.id === "a1") === true ? true : undefined;
      },
      { timeoutMs: 20_000, what: "agent a1 to report", intervalMs: 100 },
    );
    const res = await fetch(`${base}/api/dashboard/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pipelineYaml: PIPELINE, pipelinePath: "dash-dist.yaml" }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const id = ((await res.json()) as { run: { id: string } }).run.id;
    const run = await poll(
      async () => {
        const r = ((await (await fetch(`${base}/api/dashboard/runs/${id}`)).json()) as { run: RunJ }).run;
        return r.status === "RUN_STATUS_RUNNING" ? undefined : r;
      },
      { timeoutMs: 60_000, what: "the run to finish", intervalMs: 100 },
    );
    assert.equal(run.status, "RUN_STATUS_SUCCEEDED");
    for (const s of run.stages ?? []) {
      assert.equal(s.state, "STAGE_STATE_DONE");
      assert.equal(s.agent, "a1");
      assert.equal(s.attempts?.[0]?.agent, "a1");
    }
    const tail = await fetch(`${base}/api/dashboard/runs/${id}/stages/hello/log`, {
      headers: { range: "bytes=-200" },
    });
    assert.equal(tail.status, 206);
    assert.match(await tail.text(), /hello from the agent/);
    const key = (await (await fetch(`${base}/api/dashboard/runs/${id}/stages/after/key`)).json()) as {
      matches: boolean;
    };
    assert.equal(key.matches, true);
    const before = await readSse(`${base}/api/dashboard/runs/${id}/events`, () => true);

    await farm.killCoordinator();
    await farm.startCoordinator();
    const after = await readSse(`${base}/api/dashboard/runs/${id}/events`, () => true, {
      headers: { "last-event-id": before[0]?.id ?? "" },
    });
    assert.equal(after[0]?.event, "run", "a fresh snapshot after the restart");
    assert.equal((after[0]?.data as { run: RunJ }).run.status, "RUN_STATUS_SUCCEEDED");
  });
});
