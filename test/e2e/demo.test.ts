/**
 * The README's first command, for real: the demo pipeline through the built CLI, twice.
 * The second run must execute nothing and produce the same output digests.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";

interface Summary {
  status: string;
  stages: { executed: number; cached: number; failed: number; skipped: number };
  results: Record<string, { state: string; outputs?: Record<string, { digest: string }> }>;
}

function outputDigests(s: Summary): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [stage, r] of Object.entries(s.results))
    for (const [name, o] of Object.entries(r.outputs ?? {})) out[`${stage}.${name}`] = o.digest;
  return out;
}

test("demo pipeline runs, then reruns fully cached with identical outputs", async () => {
  await using sb = await CliSandbox.create();
  const first = await sb.run(["run", "pipelines/demo/pipeline.yaml", "--json"]);
  assert.equal(first.code, 0, first.stderr);
  const s1 = lastJsonLine(first.stdout) as unknown as Summary;
  assert.equal(s1.status, "succeeded");
  assert.deepEqual(s1.stages, { executed: 6, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
  assert.match(first.stderr, /ok: Hello, world!/, "the unit test output is streamed with the stage prefix");
  assert.match(first.stderr, /\[test\] /);

  const second = await sb.run(["run", "pipelines/demo/pipeline.yaml", "--json"]);
  assert.equal(second.code, 0, second.stderr);
  const s2 = lastJsonLine(second.stdout) as unknown as Summary;
  assert.equal(s2.stages.executed, 0);
  assert.equal(s2.stages.cached, 6);
  const d1 = outputDigests(s1);
  assert.ok(Object.keys(d1).length >= 7, "every declared output has a digest");
  assert.deepEqual(outputDigests(s2), d1);

  // A param the build uses changes its key and everything downstream of it; sources stays cached.
  const third = await sb.run(["run", "pipelines/demo/pipeline.yaml", "--json", "--param", "greeting=Hi"]);
  assert.equal(third.code, 0, third.stderr);
  const s3 = lastJsonLine(third.stdout) as unknown as Summary;
  assert.equal(s3.results["sources"]?.state, "cached");
  assert.equal(s3.results["build"]?.state, "done");
  assert.notEqual(outputDigests(s3)["image.image"], d1["image.image"]);
});

test("plan shows keys, cache status and the critical path", async () => {
  await using sb = await CliSandbox.create();
  const before = await sb.run(["plan", "pipelines/demo/pipeline.yaml"]);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /sources\s+shell\s+.*will run/);
  assert.match(before.stdout, /build\s+shell\s+.*after upstream/);
  assert.match(before.stdout, /Critical path \(\*\): sources → build → test → rootfs → image/);
  const run = await sb.run(["run", "pipelines/demo/pipeline.yaml", "--quiet"]);
  assert.equal(run.code, 0, run.stderr);
  const after = await sb.run(["plan", "pipelines/demo/pipeline.yaml", "--json"]);
  const plan = lastJsonLine(after.stdout) as { rows: Array<{ stage: string; status: string; key?: string }> };
  assert.equal(plan.rows.length, 6);
  for (const r of plan.rows) {
    assert.equal(r.status, "cached", `${r.stage} is cached after a run`);
    assert.match(r.key ?? "", /^[0-9a-f]{64}$/);
  }
});
