/**
 * The coordinator's metrics under odd names and many stages: pipeline and stage names with
 * quotes, backslashes, newlines, a lone surrogate or an emoji keep the exposition valid
 * (`promtool check metrics`) and the ones a label can carry round-trip; the limits keep the
 * number of pipelines, stages, pools and series bounded, the rest counted as "other".
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { describe, test } from "node:test";
import { pipelineLabel } from "../../coordinator/testing.js";
import { checkMetrics, MetricsFarm, series } from "../helpers/metrics-farm.js";

describe("stagefarm metrics (in-process farm)", () => {
  test("odd names and many stages: valid exposition, bounded series", async () => {
    const limits = { pipelines: 3, stages: 12, pools: 4 };
    await using farm = await MetricsFarm.create({ limits });
    await farm.addAgent("a1", ["x86_64"], 4);
    // A pipeline named by its directory (no `pipeline:` key): quotes, a backslash, a newline.
    // The coordinator makes a submission's path a harmless label, so the name is what is left.
    const oddName = 'odd "dir" \\ with\nnewline ü';
    const labelName = basename(dirname(pipelineLabel(join(oddName, "pipeline.yaml"))));
    const dir = join(farm.dir, oddName);
    await mkdir(dir);
    // Names no pipeline file can produce reach the metrics directly (first: the bounds keep them).
    const m = farm.metrics;
    const odd = ['q"uote', "back\\slash", "new\nline", "{b=c,d}", "\ud800lone", "", "🚀"];
    for (const s of odd) m.stageFinished("direct", s, "failed", 1500);
    const many = `stages:\n${Array.from({ length: 40 }, (_, i) => `  s${i}: { runner: shell, script: "true" }\n`).join("")}`;
    const doc = await farm.run("pipeline", many, dir);
    assert.equal(doc.status, "succeeded");
    assert.equal(doc.pipeline, labelName);
    assert.match(labelName, /^[A-Za-z0-9._+@-]+$/);
    for (let i = 0; i < 3000; i++) m.stageFinished(`p${i % 50}`, `stage-${i}`, "done", i * 1000);
    for (let i = 0; i < 200; i++) m.queueWait(`pool-${i}`, i);

    const { text, samples } = await farm.scrape();
    await checkMetrics("odd names and many stages", text);
    const durations = series(samples, "stagefarm_stage_duration_seconds_count");
    const pairs = new Set(durations.map((s) => `${s.labels["pipeline"]}/${s.labels["stage"]}`));
    assert.ok(
      pairs.size <= limits.stages + limits.pipelines + 1,
      `bounded (pipeline, stage) pairs: ${pairs.size}`,
    );
    const pipelines = new Set(durations.map((s) => s.labels["pipeline"]));
    assert.ok(pipelines.size <= limits.pipelines + 1, `bounded pipelines: ${[...pipelines].join(" | ")}`);
    assert.ok(pipelines.has(labelName), "the pipeline's name round-trips through the exposition");
    assert.ok(pipelines.has("other"));
    const directStages = durations
      .filter((s) => s.labels["pipeline"] === "direct")
      .map((s) => s.labels["stage"]);
    for (const s of ['q"uote', "back\\slash", "new\nline", "{b=c,d}", ""])
      assert.ok(directStages.includes(s), `stage ${JSON.stringify(s)} round-trips`);
    const pools = new Set(
      series(samples, "stagefarm_stage_queue_wait_seconds_count").map((s) => s.labels["pool"]),
    );
    assert.ok(pools.size <= limits.pools + 1 && pools.has("other"), `bounded pools: ${pools.size}`);
    assert.ok(samples.length < 5000, `bounded series in total: ${samples.length}`);
  });
});
