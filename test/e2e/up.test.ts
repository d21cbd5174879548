/**
 * `stagefarm up`: the embedded engine as a long-lived process with /healthz, /metrics and the
 * JSON API; a run submitted over HTTP completes and shows in the metrics (the coordinator's and
 * the local agent's, valid for promtool); SIGTERM drains, a retried run included.
 */
import assert from "node:assert/strict";
import { access, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox, repoRoot } from "../helpers/cli.js";
import { poll } from "../helpers/poll.js";
import { promtool } from "../helpers/prometheus.js";

test("up serves health, metrics and runs, and drains on SIGTERM", async () => {
  await using sb = await CliSandbox.create();
  const child = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1];
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    const post = (body: string): Promise<Response> =>
      fetch(`${base}/api/v1/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    assert.equal((await post("{not json")).status, 400);
    const invalid = await post(
      JSON.stringify({ pipelineYaml: "stages: [1, 2]\n", pipelinePath: "bad.yaml" }),
    );
    assert.equal(invalid.status, 400);
    assert.equal(((await invalid.json()) as { code: string }).code, "invalid_pipeline");

    const yaml = await readFile(join(repoRoot, "pipelines/demo/pipeline.yaml"), "utf8");
    const res = await post(
      JSON.stringify({ pipelineYaml: yaml, pipelinePath: "demo/pipeline.yaml", params: {} }),
    );
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const run = await poll(
      async () => {
        const r = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as {
          status: string;
          stageCounts?: Record<string, number>;
        };
        return r.status === "running" ? undefined : r;
      },
      { timeoutMs: 120_000, what: "the run to finish", intervalMs: 100 },
    );
    assert.equal(run.status, "succeeded");
    assert.equal(run.stageCounts?.["executed"], 6);

    // The run's document says succeeded once the coordinator decided it; the local agent's
    // count of its last stage and the active-runs gauge follow a moment later.
    const metrics = await poll(
      async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return /stagefarm_agent_stages_total\{result="succeeded"\} 6/.test(text) &&
          /stagefarm_stages_total\{pipeline="demo",result="done"\} 6/.test(text) &&
          /stagefarm_runs_active 0/.test(text)
          ? text
          : undefined;
      },
      { timeoutMs: 10_000, what: "the metrics of the finished run", intervalMs: 100 },
    );
    assert.match(
      metrics,
      /stagefarm_stage_duration_seconds_bucket\{le="86400",pipeline="demo",stage="build",result="done"\} 1/,
    );
    assert.match(metrics, /stagefarm_cache_lookups_total\{kind="stage",result="miss"\} 6/);
    assert.match(metrics, /stagefarm_stages_total\{pipeline="demo",result="done"\} 6/);
    assert.match(metrics, /stagefarm_runs_active 0/);
    // The local agent's own metrics, in the same exposition.
    assert.match(metrics, /stagefarm_agent_info\{agent="local",version="[0-9.]+"\} 1/);
    assert.match(metrics, /stagefarm_agent_stages_total\{result="succeeded"\} 6/);
    assert.match(metrics, /stagefarm_agent_claims_total\{result="granted"\} 6/);
    assert.match(metrics, /stagefarm_agent_running_stages 0/);
    const uploaded = Number(/stagefarm_artifact_bytes_total\{direction="upload"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(uploaded > 0, "the stages' outputs and logs were uploaded");
    const free = Number(/stagefarm_agent_work_dir_free_bytes (\d+)/.exec(metrics)?.[1]);
    assert.ok(free > 0, "free space of the work directory");
    const check = await promtool(["check", "metrics"], metrics);
    assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);

    assert.equal(await child.stop("SIGTERM"), 143, child.describe());
  } finally {
    child.kill();
  }
});

/** A run of `yaml` through the dashboard's API that failed, then its stage `s` retried after
 *  `fix()`; resolves once the retried stage has started (it creates `started`). */
async function retriedRun(
  base: string,
  yaml: string,
  fix: () => Promise<void>,
  started: string,
): Promise<void> {
  const post = (path: string, body: unknown): Promise<Response> =>
    fetch(`${base}/api/dashboard${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify(body),
    });
  const res = await post("/runs", { pipelineYaml: yaml, pipelinePath: "flaky.yaml" });
  assert.equal(res.status, 202);
  const id = ((await res.json()) as { run: { id: string } }).run.id;
  const status = await poll(
    async () => {
      const r = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as { status: string };
      return r.status === "running" ? undefined : r.status;
    },
    { timeoutMs: 60_000, what: "the first attempt to fail", intervalMs: 100 },
  );
  assert.equal(status, "failed");
  await fix();
  assert.equal((await post(`/runs/${id}/stages/s/retry`, {})).status, 200);
  await poll(
    () =>
      access(started).then(
        () => true,
        () => undefined,
      ),
    { timeoutMs: 60_000, what: "the retried stage to start", intervalMs: 100 },
  );
}

test("SIGTERM drains a run retried from the dashboard too; a second signal cancels it", async () => {
  await using sb = await CliSandbox.create();
  const fixed = join(sb.dir, "fixed");
  const started = join(sb.dir, "started");
  const finished = join(sb.dir, "finished");
  // Fails until `fixed` exists; then takes a while and records that it finished.
  const yaml = `pipeline: flaky
stages:
  s:
    runner: shell
    script: |
      test -f ${fixed} || { echo "not fixed yet"; exit 1; }
      touch ${started}; sleep 3; mkdir -p out; touch ${finished}
    outputs:
      o: out
`;
  const fix = () => writeFile(fixed, "");
  const up = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await up.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    await retriedRun(base, yaml, fix, started);
    // The retried run (started by the coordinator, not by a submission) finishes first.
    assert.equal(await up.stop("SIGTERM"), 143, up.describe());
    await access(finished);
  } finally {
    up.kill();
  }

  await Promise.all([fixed, started, finished].map((f) => rm(f)));
  const again = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await again.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    // Another script: not the cache entry of the first server's run.
    await retriedRun(base, yaml.replace("sleep 3", "sleep 4"), fix, started);
    again.child.kill("SIGTERM");
    await again.waitForOutput(/draining/, 10_000, "stderr");
    assert.equal(await again.stop("SIGTERM"), 143, again.describe());
    await assert.rejects(access(finished), "the second signal cancelled the stage before it finished");
  } finally {
    again.kill();
  }
});
