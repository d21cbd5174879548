/**
 * The dashboard's HTTP API against a real coordinator and agents (in-process ports, real
 * filesystem store, real HTTP): proto3 JSON of runs, stages, attempts and agents; the cache
 * key material; stored logs by byte range and searched; server-sent events with snapshots,
 * resuming by Last-Event-ID and a fresh snapshot after a restart; live logs by offset; the
 * actions (cancel, retry, drain) and what they refuse; static files with their headers.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DashboardFarm, readSse, type SseEvent } from "../helpers/dashboard-farm.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `
pipeline: dash-api
params:
  note: { default: "plain" }
stages:
  src:
    runner: shell
    env: { NOTE: "\${{ params.note }}" }
    script: |
      mkdir -p out && echo "$NOTE" > out/a.txt
    outputs: { tree: out }
  build:
    runner: shell
    inputs: { src: src.tree }
    script: |
      for i in 1 2 3 4 5; do echo "line $i of the build"; sleep 0.15; done
      echo MARKER-build-done
      mkdir -p out && cp -r inputs/src out/
    outputs: { bin: out }
`;

const SLOW = `
pipeline: dash-slow
stages:
  sleeper:
    runner: shell
    script: |
      echo "going to sleep"
      sleep 30
      mkdir -p out
    outputs: { o: out }
`;

interface RunJ {
  id: string;
  status: string;
  stages?: Array<{
    name: string;
    state?: string;
    agent?: string;
    attempt?: number;
    attempts?: Array<{
      number: number;
      agent?: string;
      outcome?: string;
      startedAt?: string;
      finishedAt?: string;
    }>;
    outputs?: Array<{ digest: string; size: string }>;
    dependsOn?: string[];
  }>;
  stageCounts?: Record<string, number>;
}

async function finished(d: DashboardFarm, id: string): Promise<RunJ> {
  return poll(
    async () => {
      const { run } = await d.json<{ run: RunJ }>(`/api/dashboard/runs/${id}`);
      return run.status === "RUN_STATUS_RUNNING" ? undefined : run;
    },
    { timeoutMs: 20_000, what: `run ${id} to finish`, intervalMs: 50 },
  );
}

async function stageState(d: DashboardFarm, id: string, stage: string, state: string): Promise<void> {
  await poll(
    async () => {
      const { run } = await d.json<{ run: RunJ }>(`/api/dashboard/runs/${id}`);
      return run.stages?.find((s) => s.name === stage)?.state === state ? true : undefined;
    },
    { timeoutMs: 20_000, what: `${stage} to be ${state}`, intervalMs: 50 },
  );
}

describe("dashboard API", () => {
  test("runs, stages with attempts and agents, filters, cache key material", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 2);
    const id = await d.submit(PIPELINE, { note: "<b>bold</b>" });
    const run = await finished(d, id);
    assert.equal(run.status, "RUN_STATUS_SUCCEEDED");
    const build = run.stages?.find((s) => s.name === "build");
    assert.equal(build?.state, "STAGE_STATE_DONE");
    assert.equal(build?.agent, "agent-a");
    assert.deepEqual(build?.dependsOn, ["src"]);
    assert.equal(build?.attempts?.length, 1);
    const a = build?.attempts?.[0];
    assert.equal(a?.agent, "agent-a");
    assert.equal(a?.outcome, "ATTEMPT_OUTCOME_SUCCEEDED");
    assert.ok(a?.startedAt !== undefined && a.finishedAt !== undefined && a.finishedAt >= a.startedAt);
    assert.match(build?.outputs?.[0]?.digest ?? "", /^[0-9a-f]{64}$/);

    const list = await d.json<{ runs: RunJ[] }>("/api/dashboard/runs?status=succeeded&pipeline=dash-api");
    assert.deepEqual(
      list.runs.map((r) => r.id),
      [id],
    );
    assert.equal(list.runs[0]?.stages, undefined, "the list carries summaries without stages");
    assert.equal(list.runs[0]?.stageCounts?.["done"], 2);
    assert.equal((await d.json<{ runs?: RunJ[] }>("/api/dashboard/runs?status=failed")).runs, undefined);
    assert.equal((await fetch(`${d.base}/api/dashboard/runs?status=bogus`)).status, 400);

    const key = await d.json<{
      key: string;
      computedKey: string;
      matches: boolean;
      inputs: Array<{ from: string }>;
    }>(`/api/dashboard/runs/${id}/stages/build/key`);
    assert.equal(key.matches, true);
    assert.equal(key.computedKey, key.key);
    assert.deepEqual(
      key.inputs.map((i) => i.from),
      ["src.tree"],
    );
    const agents = await d.json<{ agents: Array<{ id: string; slots: number }> }>("/api/dashboard/agents");
    assert.deepEqual(
      agents.agents.map((x) => [x.id, x.slots]),
      [["agent-a", 2]],
    );
    const cache = await d.json<{ entries: number; newest: Array<{ stage: string }> }>("/api/dashboard/cache");
    assert.equal(cache.entries, 2);
    assert.deepEqual(cache.newest.map((e) => e.stage).sort(), ["build", "src"]);
    assert.equal((await fetch(`${d.base}/api/dashboard/runs/nope-1`)).status, 404);
    assert.equal((await fetch(`${d.base}/api/dashboard/runs/${id}/stages/nope/key`)).status, 404);
  });

  test("stored logs by byte range, and search with offsets", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 1);
    const id = await finished(d, await d.submit(PIPELINE)).then((r) => r.id);
    const url = `${d.base}/api/dashboard/runs/${id}/stages/build/log`;
    const whole = await (await fetch(url)).text();
    assert.match(whole, /MARKER-build-done/);
    const size = Buffer.byteLength(whole);
    const tail = await fetch(url, { headers: { range: "bytes=-20" } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get("content-range"), `bytes ${size - 20}-${size - 1}/${size}`);
    assert.equal(
      await tail.text(),
      Buffer.from(whole)
        .subarray(size - 20)
        .toString(),
    );
    const mid = await fetch(url, { headers: { range: "bytes=5-9" } });
    assert.equal(await mid.text(), Buffer.from(whole).subarray(5, 10).toString());
    assert.equal((await fetch(url, { headers: { range: `bytes=${size}-` } })).status, 416);
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(size));

    const found = await d.json<{ matches: Array<{ offset: number; line: string }> }>(
      `/api/dashboard/runs/${id}/stages/build/log/search?q=marker-BUILD`,
    );
    assert.equal(found.matches.length, 1);
    const m = found.matches[0];
    assert.equal(m?.line, "MARKER-build-done");
    assert.equal(
      Buffer.from(whole)
        .subarray(m?.offset ?? 0, (m?.offset ?? 0) + 6)
        .toString(),
      "MARKER",
    );
    const limited = await d.json<{ matches: unknown[]; next?: number }>(
      `/api/dashboard/runs/${id}/stages/build/log/search?q=of+the+build&limit=2`,
    );
    assert.equal(limited.matches.length, 2);
    assert.ok(limited.next !== undefined);
    assert.equal((await fetch(`${url}/search?q=`)).status, 400);
  });

  test("run events: a snapshot, live changes, resuming by Last-Event-ID, a fresh snapshot after a restart", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 1);
    const id = await d.submit(PIPELINE);
    const events = await readSse(
      `${d.base}/api/dashboard/runs/${id}/events`,
      (e) => e.event === "run" && (e.data as { run: RunJ }).run.status !== "RUN_STATUS_RUNNING",
    );
    assert.equal(events[0]?.event, "run", "a snapshot first");
    const stages = events.filter((e) => e.event === "stage");
    const states = stages.map((e) => {
      const s = (e.data as { stage: { name: string; state?: string } }).stage;
      return `${s.name}:${s.state ?? ""}`;
    });
    assert.ok(states.includes("build:STAGE_STATE_RUNNING"), states.join(" "));
    assert.equal(states[states.length - 1], "build:STAGE_STATE_DONE");
    const ids = events.map((e) => e.id ?? "");
    const seqs = ids.map((x) => Number(x.split(".")[1]));
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
      "ids increase",
    );

    // Resume after the second event: exactly the events that followed it, no snapshot.
    const from = events[1] as SseEvent;
    const resumed = await readSse(
      `${d.base}/api/dashboard/runs/${id}/events`,
      (_e, all) => all.length >= events.length - 2,
      { headers: { "last-event-id": from.id ?? "" } },
    );
    assert.deepEqual(
      resumed.map((e) => e.id),
      ids.slice(2),
    );
    // The same through the query (a new EventSource cannot set the header).
    const viaQuery = await readSse(
      `${d.base}/api/dashboard/runs/${id}/events?lastEventId=${encodeURIComponent(from.id ?? "")}`,
      (_e, all) => all.length >= 1,
    );
    assert.equal(viaQuery[0]?.id, ids[2]);

    await d.restart();
    const after = await readSse(`${d.base}/api/dashboard/runs/${id}/events`, () => true, {
      headers: { "last-event-id": ids[ids.length - 1] ?? "" },
    });
    assert.equal(after[0]?.event, "run", "an id from before the restart gets a fresh snapshot");
    assert.equal((after[0]?.data as { run: RunJ }).run.status, "RUN_STATUS_SUCCEEDED");
    assert.notEqual(after[0]?.id?.split(".")[0], ids[0]?.split(".")[0], "a new epoch");
  });

  test("live log: the tail follows with byte offsets and resumes at an offset", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 1);
    const id = await d.submit(PIPELINE);
    const url = `${d.base}/api/dashboard/runs/${id}/stages/build/log/events`;
    const events = await readSse(url, (e) => e.event === "end");
    // proto3 JSON leaves out a zero offset.
    const chunks = events
      .filter((e) => e.event === "log")
      .map((e) => e.data as { offset?: string; data: string; attempt: number });
    assert.ok(chunks.length > 0, events.map((e) => e.event).join(","));
    const live = Buffer.concat(chunks.map((c) => Buffer.from(c.data, "base64")));
    const stored = Buffer.from(
      await (await fetch(`${d.base}/api/dashboard/runs/${id}/stages/build/log`)).arrayBuffer(),
    );
    const first = Number(chunks[0]?.offset ?? "0");
    assert.deepEqual(
      live,
      stored.subarray(first, first + live.length),
      "live bytes are the stored log's at their offsets",
    );
    assert.match(live.toString(), /line 3 of the build/);
    let expect = first;
    for (const c of chunks) {
      assert.equal(Number(c.offset ?? "0"), expect);
      expect += Buffer.from(c.data, "base64").length;
    }
    // A finished attempt's stream ends at once; the page reads the stored log.
    const again = await readSse(`${url}?attempt=1`, (e) => e.event === "end");
    assert.ok(again.some((e) => e.event === "end"));
  });

  test("live log resumes at the Last-Event-ID offset while the stage runs", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 1);
    const yaml = `
pipeline: dash-live
stages:
  talk:
    runner: shell
    script: |
      for i in $(seq 1 40); do echo "tick $i"; sleep 0.1; done
      mkdir -p out
    outputs: { o: out }
`;
    const id = await d.submit(yaml);
    const url = `${d.base}/api/dashboard/runs/${id}/stages/talk/log/events`;
    const head = await readSse(url, (_e, all) => all.filter((x) => x.event === "log").length >= 2);
    const last = head.filter((e) => e.event === "log").pop();
    assert.equal(head[0]?.event === "hello" || head[0]?.event === "waiting", true);
    const resumed = await readSse(url, (e) => e.event === "log", {
      headers: { "last-event-id": last?.id ?? "" },
    });
    const next = resumed.find((e) => e.event === "log")?.data as { offset: string };
    assert.equal(`1:${next.offset}`, last?.id, "resumes exactly where the last event ended");
    await fetch(`${d.base}/api/dashboard/runs/${id}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
  });

  test("actions: cancel, retry and drain; refused without JSON or cross-site", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("agent-a", [], 1);
    const id = await d.submit(SLOW);
    await stageState(d, id, "sleeper", "STAGE_STATE_RUNNING");
    const plain = await fetch(`${d.base}/api/dashboard/runs/${id}/cancel`, { method: "POST" });
    assert.equal(plain.status, 400, "a form-like request is refused");
    const cross = await fetch(`${d.base}/api/dashboard/runs/${id}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json", "sec-fetch-site": "cross-site" },
    });
    assert.equal(cross.status, 400);
    assert.equal((await d.json<{ run: RunJ }>(`/api/dashboard/runs/${id}`)).run.status, "RUN_STATUS_RUNNING");

    const post = (path: string): Promise<Response> =>
      fetch(`${d.base}/api/dashboard${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
    const cancelled = await post(`/runs/${id}/cancel`);
    assert.equal(cancelled.status, 200);
    const c = (await cancelled.json()) as { run: RunJ };
    assert.equal(c.run.status, "RUN_STATUS_CANCELLED");
    assert.equal(c.run.stages?.[0]?.state, "STAGE_STATE_CANCELLED");
    assert.equal(c.run.stages?.[0]?.attempts?.[0]?.outcome, "ATTEMPT_OUTCOME_CANCELLED");

    const retried = await post(`/runs/${id}/stages/sleeper/retry`);
    assert.equal(retried.status, 200, await retried.clone().text());
    await stageState(d, id, "sleeper", "STAGE_STATE_RUNNING");
    assert.equal((await post(`/runs/${id}/stages/sleeper/retry`)).status, 400, "not while it runs");
    assert.equal((await post(`/runs/${id}/cancel`)).status, 200);

    const drained = await post("/agents/agent-a/drain");
    assert.equal(drained.status, 200);
    assert.equal(
      ((await drained.json()) as { agent: { state: string } }).agent.state,
      "AGENT_STATE_DRAINING",
    );
    assert.equal((await post("/agents/nobody/drain")).status, 404);
    const bad = await fetch(`${d.base}/api/dashboard/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        pipelineYaml: "pipeline: x\nstages:\n  a: { runner: nope }\n",
        pipelinePath: "bad.yaml",
      }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /bad\.yaml:\d+:\d+/);
  });

  test("static files: content types, CSP, nothing outside the build, not-built page", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-dash-static-"));
    try {
      await mkdir(join(dir, "assets"));
      await writeFile(join(dir, "index.html"), "<!doctype html><title>t</title>");
      await writeFile(join(dir, "assets", "app-1.js"), "export {};");
      await writeFile(join(dir, "secret.key"), "no");
      await using d = await DashboardFarm.create({ staticDir: dir });
      const root = await fetch(`${d.base}/`, { redirect: "manual" });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get("location"), "/ui/");
      const page = await fetch(`${d.base}/ui/`);
      assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
      assert.match(
        page.headers.get("content-security-policy") ?? "",
        /default-src 'self'.*script-src 'self'/,
      );
      const js = await fetch(`${d.base}/ui/assets/app-1.js`);
      assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.match(js.headers.get("cache-control") ?? "", /immutable/);
      assert.equal((await fetch(`${d.base}/ui/secret.key`)).status, 404, "unknown types are not served");
      assert.equal((await fetch(`${d.base}/ui/assets/../../package.json`)).status, 404);
      assert.equal((await fetch(`${d.base}/ui/%2e%2e/%2e%2e/package.json`)).status, 404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await using empty = await DashboardFarm.create({ staticDir: join(tmpdir(), "sf-dash-no-such-dir") });
    const res = await fetch(`${empty.base}/ui/`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /npm run build/);
  });
});
