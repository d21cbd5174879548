/**
 * `stagefarm up`: the embedded engine as a long-lived process with /healthz, /metrics and the
 * JSON API; a run submitted over HTTP completes and shows in the metrics; SIGTERM drains.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";

async function poll<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("up serves health, metrics and runs, and drains on SIGTERM", async () => {
  await using sb = await CliSandbox.create();
  const child = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const base = await poll(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], 20_000, "up to listen");
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    const bad = await fetch(`${base}/api/v1/runs`, { method: "POST", body: "{not json" });
    assert.equal(bad.status, 400);
    const missing = await fetch(`${base}/api/v1/runs`, {
      method: "POST",
      body: JSON.stringify({ pipeline: "pipelines/nope.yaml" }),
    });
    assert.equal(missing.status, 404);

    const res = await fetch(`${base}/api/v1/runs`, {
      method: "POST",
      body: JSON.stringify({ pipeline: "pipelines/demo/pipeline.yaml", params: {} }),
    });
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
      120_000,
      "the run to finish",
    );
    assert.equal(run.status, "succeeded");
    assert.equal(run.stageCounts?.["executed"], 6);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(
      metrics,
      /stagefarm_stage_duration_seconds_bucket\{le="86400",pipeline="demo",stage="build",result="done"\} 1/,
    );
    assert.match(metrics, /stagefarm_cache_lookups_total\{kind="stage",result="miss"\} 6/);
    assert.match(metrics, /stagefarm_stages_total\{pipeline="demo",result="done"\} 6/);
    assert.match(metrics, /stagefarm_runs_active 0/);

    child.kill("SIGTERM");
    assert.equal(await exited, 143);
  } finally {
    child.kill("SIGKILL");
  }
});
