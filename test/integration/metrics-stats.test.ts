/**
 * Stage statistics: the engine's record (`stats/<pipeline>.json`) across runs, merged with the
 * cache manifests, percentiles, concurrent writers, a damaged record, and `stagefarm stats`
 * (human and JSON, by name and by pipeline file with its expected critical path) on the built CLI.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { expectedCriticalPath, loadStatsReports, type PipelineStatsReport } from "../../coordinator/index.js";
import { FsStatsStore, percentile } from "../../coordinator/testing.js";
import { sha256 } from "../../shared/digest.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { CliSandbox } from "../helpers/cli.js";

const KEY = (n: number): string => sha256(`key-${n}`);

describe("stage statistics", () => {
  test("percentiles are nearest-rank; p50 is the lower middle", () => {
    assert.equal(percentile([], 0.5), undefined);
    assert.equal(percentile([7], 0.9), 7);
    assert.equal(percentile([4, 1, 3, 2], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9), 10);
  });

  test("records merge with older manifests; concurrent writers all count; a damaged record restarts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-stats-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    try {
      // History from before any recorded run: one manifest (an execution of 4 s).
      const blob = await store.putBlob(Readable.from([Buffer.from("x")]));
      await store.putManifest({
        v: 1,
        key: KEY(0),
        pipeline: "p",
        stage: "build",
        runner: "shell",
        outputs: { o: { digest: blob.digest, size: blob.size, kind: "file" } },
        createdAt: new Date(Date.now() - 3_600_000).toISOString(),
        durationMs: 4000,
        producer: "local",
      });
      const stats = new FsStatsStore(join(store.root, "stats"));
      const started = new Date();
      // Twenty runs ending at once, from two store instances (as two processes would).
      const other = new FsStatsStore(join(store.root, "stats"));
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? stats : other).addRun(
            "p",
            i < 2
              ? [{ stage: "build", t: "done", key: KEY(i + 1), ms: (i + 1) * 1000 }]
              : [
                  { stage: "build", t: "cached" },
                  { stage: "test", t: i === 19 ? "failed" : "cached" },
                ],
            started,
          ),
        ),
      );
      const rec = await stats.read("p");
      assert.equal(rec?.runs, 20);
      const [report] = await loadStatsReports(store, "p");
      const build = report?.stages.find((r) => r.stage === "build");
      // 2 recorded executions + the older manifest; durations 1 s, 2 s, 4 s.
      assert.deepEqual(
        { executions: build?.executions, p50: build?.p50Ms, p90: build?.p90Ms, hits: build?.hits },
        { executions: 3, p50: 2000, p90: 4000, hits: 18 },
      );
      assert.equal(build?.hitRatio, 18 / 20);
      const testRow = report?.stages.find((r) => r.stage === "test");
      assert.deepEqual(
        { failures: testRow?.failures, hitRatio: testRow?.hitRatio },
        { failures: 1, hitRatio: 17 / 18 },
      );
      assert.equal(testRow?.p50Ms, undefined);

      // A damaged record does not block later runs: it starts afresh.
      const file = join(store.root, "stats", "p.json");
      await writeFile(file, "{ not json");
      await assert.rejects(stats.read("p"), /not valid JSON/);
      await stats.addRun("p", [{ stage: "build", t: "cached" }], new Date());
      assert.equal((await stats.read("p"))?.runs, 1);
      // Odd pipeline names make safe file names.
      await stats.addRun("../we/ird\nname", [{ stage: "s", t: "cached" }], new Date());
      assert.equal((await stats.read("../we/ird\nname"))?.stages["s"]?.hits, 1);
      assert.deepEqual((await stats.list()).map((r) => r.pipeline).sort(), ["../we/ird\nname", "p"]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the expected critical path takes p50s, then estimates, then 1 minute", () => {
    const report: PipelineStatsReport = {
      pipeline: "p",
      runs: 1,
      stages: [
        { stage: "a", executions: 1, p50Ms: 10_000, p90Ms: 20_000, hits: 0, failures: 0, lookups: 1 },
        { stage: "b", executions: 1, p50Ms: 5_000, p90Ms: 50_000, hits: 0, failures: 0, lookups: 1 },
      ],
    };
    const stage = (name: string, from: string[], estimateMs?: number) => ({
      name,
      inputs: from.map((f) => ({
        t: "stage" as const,
        name: f,
        stage: f,
        output: "o",
        path: f,
        unpack: true,
        pos: { file: "p.yaml", line: 1, col: 1 },
      })),
      ...(estimateMs === undefined ? {} : { estimateMs }),
    });
    const cp = expectedCriticalPath(
      [stage("a", []), stage("b", ["a"]), stage("c", [], 12_000), stage("d", ["c"])],
      report,
    );
    // a→b: 15 s at p50; c→d: 12 s + 60 s = 72 s (no history): the longer path.
    assert.deepEqual(cp.path, ["c", "d"]);
    assert.equal(cp.p50Ms, 72_000);
    assert.equal(cp.p90Ms, 72_000);
    assert.deepEqual(cp.from, { a: "history", b: "history", c: "estimate", d: "default" });
  });

  test("`stagefarm stats` after an executed and a cached run, by name and by file", async () => {
    await using sb = await CliSandbox.create();
    const file = join(sb.dir, "timed", "pipeline.yaml");
    await mkdir(join(sb.dir, "timed"));
    await writeFile(
      file,
      `pipeline: timed
stages:
  slow:
    runner: shell
    script: sleep 0.4 && mkdir -p out && echo s > out/s
    outputs: { s: out/s }
  next:
    runner: shell
    inputs: { s: { from: slow.s } }
    script: "true"
  quick: { runner: shell, script: "true", estimate: 2s }
`,
    );
    for (let i = 0; i < 2; i++) {
      const r = await sb.run(["run", file]);
      assert.equal(r.code, 0, r.stderr);
    }
    const rec = JSON.parse(await readFile(join(sb.dir, "store", "stats", "timed.json"), "utf8")) as {
      runs: number;
      stages: Record<string, { hits: number; executions: number }>;
    };
    assert.equal(rec.runs, 2);
    assert.deepEqual(rec.stages["slow"], { ...rec.stages["slow"], hits: 1, executions: 1 });

    const json = await sb.run(["stats", "timed", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { pipelines: PipelineStatsReport[] };
    assert.equal(out.pipelines.length, 1);
    const slow = out.pipelines[0]?.stages.find((s) => s.stage === "slow");
    assert.equal(slow?.executions, 1);
    assert.equal(slow?.hitRatio, 0.5);
    assert.ok((slow?.p50Ms ?? 0) >= 400, `p50 of slow: ${slow?.p50Ms}`);

    const human = await sb.run(["stats", file]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /Pipeline timed — 2 recorded runs/);
    assert.match(human.stdout, /^ {2}slow +1 +\S+ +\S+ +0 +50% of 2$/m);
    assert.match(human.stdout, /Expected critical path: slow → next — /);

    const all = await sb.run(["stats", "--json"]);
    assert.deepEqual(
      (JSON.parse(all.stdout) as { pipelines: PipelineStatsReport[] }).pipelines.map((p) => p.pipeline),
      ["timed"],
    );
    const none = await sb.run(["stats", "nosuch"]);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /No recorded history for pipeline nosuch/);
  });
});
