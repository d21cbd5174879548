import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";
import {
  criticalPath,
  downstreamOf,
  parseParamArgs,
  parsePipeline,
  priorities,
  resolvePipeline,
  stageDeps,
  topoOrder,
  type GraphStage,
} from "../../shared/pipeline/index.js";
import { upstreamOf } from "../../shared/pipeline/testing.js";

const SHA = "b".repeat(64);

/**
 * File order: report, fetch, build, docs, pack, lint.
 *   fetch → build → pack → report
 *   fetch → docs  → pack
 *   lint (alone)
 */
const DAG = `
pipeline: graph
params:
  opt: "-O2"
  greeting: { default: hi, description: unused by most stages }
  version: "1.0"
  pin: "${SHA}"
env:
  LC_ALL: C
  OPT: "\${{ params.opt }}"
stages:
  report:
    runner: shell
    script: cat inputs/p
    inputs: { p: pack.tarball }
  fetch:
    runner: fetch
    sources:
      src: { url: "https://example.org/x-\${{ params.version }}.tar.gz", sha256: "\${{ params.pin }}" }
  build:
    runner: shell
    description: "build \${{ params.greeting }}"
    env: { LC_ALL: POSIX, CFLAGS: "\${{ params.opt }} -g" }
    script: make
    inputs: { a: fetch.src, b: { from: fetch.src, path: "b-\${{ params.version }}" } }
    outputs: { bin: out/bin }
  docs:
    runner: shell
    script: make docs
    inputs: { s: fetch.src }
    outputs: { html: out/html }
  pack:
    runner: shell
    script: tar
    inputs: { bin: build.bin, html: docs.html }
    outputs: { tarball: { path: "out/\${{ params.version }}.tar", kind: file } }
    with: { packages: ["app-\${{ params.version }}"], depth: 2 }
  lint:
    runner: shell
    script: lint
`;

const spec = parsePipeline(DAG, "pipelines/graph/pipeline.yaml");
const durations: Record<string, number> = { report: 1, fetch: 10, build: 50, docs: 20, pack: 5, lint: 30 };
const dur = (name: string): number => durations[name] ?? assert.fail(`no duration for ${name}`);

void describe("graph helpers", () => {
  void test("stageDeps lists upstream stages once, in input order", () => {
    const byName = new Map(spec.stages.map((s) => [s.name, s]));
    assert.deepEqual(stageDeps(byName.get("build") ?? assert.fail()), ["fetch"]);
    assert.deepEqual(stageDeps(byName.get("pack") ?? assert.fail()), ["build", "docs"]);
    assert.deepEqual(stageDeps(byName.get("lint") ?? assert.fail()), []);
  });

  void test("topoOrder puts dependencies first and breaks ties by file order", () => {
    assert.deepEqual(topoOrder(spec.stages), ["fetch", "build", "docs", "pack", "report", "lint"]);
  });

  void test("topoOrder rejects a cycle", () => {
    const stage = (name: string, from: string): GraphStage => ({
      name,
      inputs: [{ t: "stage", stage: from }],
    });
    assert.throws(
      () => topoOrder([stage("a", "b"), stage("b", "a")]),
      (err: unknown) =>
        err instanceof StagefarmError && err.code === "invalid_pipeline" && /a, b/.test(err.message),
    );
  });

  void test("downstreamOf and upstreamOf are transitive, in dependency order", () => {
    assert.deepEqual(downstreamOf(spec.stages, "fetch"), ["build", "docs", "pack", "report"]);
    assert.deepEqual(downstreamOf(spec.stages, "docs"), ["pack", "report"]);
    assert.deepEqual(downstreamOf(spec.stages, "report"), []);
    assert.deepEqual(upstreamOf(spec.stages, "pack"), ["fetch", "build", "docs"]);
    assert.throws(
      () => downstreamOf(spec.stages, "bulid"),
      (err: unknown) =>
        err instanceof StagefarmError &&
        err.code === "invalid_argument" &&
        err.message.includes('(did you mean "build"?)'),
    );
  });

  void test("criticalPath follows the longest summed duration", () => {
    assert.deepEqual(criticalPath(spec.stages, dur), {
      path: ["fetch", "build", "pack", "report"],
      totalMs: 66,
    });
    const slowDocs = (n: string): number => (n === "docs" ? 55 : dur(n));
    assert.deepEqual(criticalPath(spec.stages, slowDocs), {
      path: ["fetch", "docs", "pack", "report"],
      totalMs: 71,
    });
    const slowLint = (n: string): number => (n === "lint" ? 100 : dur(n));
    assert.deepEqual(criticalPath(spec.stages, slowLint), { path: ["lint"], totalMs: 100 });
    assert.deepEqual(criticalPath([], dur), { path: [], totalMs: 0 });
  });

  void test("priorities: longest time from a stage's start to the end of the DAG", () => {
    const p = priorities(spec.stages, dur);
    assert.deepEqual(Object.fromEntries(p), { report: 1, pack: 6, docs: 26, build: 56, fetch: 66, lint: 30 });
    // The scheduler runs highest first: fetch (66), build (56), lint (30) before docs (26).
    const ranked = [...p.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n);
    assert.deepEqual(ranked, ["fetch", "build", "lint", "docs", "pack", "report"]);
  });

  void test("the helpers work the same on resolved stages", () => {
    const resolved = resolvePipeline(spec, {});
    assert.deepEqual(topoOrder(resolved), topoOrder(spec.stages));
    assert.deepEqual(criticalPath(resolved, dur), criticalPath(spec.stages, dur));
    assert.deepEqual(priorities(resolved, dur), priorities(spec.stages, dur));
  });
});

void describe("resolvePipeline", () => {
  void test("substitutes defaults everywhere, merges env, fills paramsUsed, keeps file order", () => {
    const stages = resolvePipeline(spec, {});
    assert.deepEqual(
      stages.map((s) => s.name),
      spec.stages.map((s) => s.name),
    );
    const byName = new Map(stages.map((s) => [s.name, s]));
    const build = byName.get("build") ?? assert.fail();
    assert.equal(build.pipeline, "graph");
    assert.equal(build.platform, "linux/x86_64");
    assert.deepEqual(
      build.env,
      { LC_ALL: "POSIX", OPT: "-O2", CFLAGS: "-O2 -g" },
      "stage env wins over pipeline env",
    );
    assert.equal(build.inputs[1]?.path, "b-1.0");
    assert.equal(build.description, "build hi");
    assert.deepEqual(build.paramsUsed, ["opt", "version"], "description does not count as a use");
    const fetch = byName.get("fetch") ?? assert.fail();
    assert.deepEqual(fetch.sources[0]?.source, { url: "https://example.org/x-1.0.tar.gz", sha256: SHA });
    assert.deepEqual(fetch.paramsUsed, ["opt", "pin", "version"]);
    const pack = byName.get("pack") ?? assert.fail();
    assert.equal(pack.outputs[0]?.path, "out/1.0.tar");
    assert.deepEqual(pack.with, { packages: ["app-1.0"], depth: 2 });
    assert.equal(byName.get("lint")?.script, "lint");
    assert.deepEqual(byName.get("lint")?.paramsUsed, ["opt"], "pipeline env counts for every stage");
    assert.equal(spec.stages[2]?.env.CFLAGS, "${{ params.opt }} -g", "the spec itself is not modified");
  });

  void test("overrides replace defaults", () => {
    const byName = new Map(resolvePipeline(spec, { version: "2.5", opt: "-O3" }).map((s) => [s.name, s]));
    assert.equal(byName.get("build")?.env.CFLAGS, "-O3 -g");
    assert.equal(byName.get("fetch")?.sources[0]?.source.url, "https://example.org/x-2.5.tar.gz");
    assert.equal(byName.get("pack")?.outputs[0]?.path, "out/2.5.tar");
  });

  void test("an unknown override is an invalid_argument listing the known params", () => {
    assert.throws(
      () => resolvePipeline(spec, { verison: "2" }),
      (err: unknown) => {
        assert.ok(err instanceof StagefarmError);
        assert.equal(err.code, "invalid_argument");
        assert.match(err.message, /unknown param "verison" \(did you mean "version"\?\)/);
        assert.match(err.message, /has params: "opt", "greeting", "version", "pin"/);
        return true;
      },
    );
  });

  void test("a value that makes a path, URL or sha256 invalid is rejected with the stage named", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { version: "../../etc" },
        /stage "build" input "b" path: path "b-\.\.\/\.\.\/etc" must not contain "\.\."/,
      ],
      [{ pin: "123" }, /stage "fetch" source "src" sha256: invalid sha256 "123"/],
      [
        { version: "/abs" },
        /stage "pack" output "tarball" path: path "out\/\/abs\.tar" is not normalised.*after substituting params/,
      ],
    ];
    for (const [overrides, re] of cases)
      assert.throws(
        () => resolvePipeline(spec, overrides),
        (err: unknown) =>
          err instanceof StagefarmError && err.code === "invalid_argument" && re.test(err.message),
      );
  });
});

void describe("parseParamArgs", () => {
  void test("splits at the first =", () => {
    assert.deepEqual(parseParamArgs(["a=1", "b=x=y", "c="]), { a: "1", b: "x=y", c: "" });
    assert.deepEqual(parseParamArgs([]), {});
  });

  void test("rejects a missing =, an empty name and a repeated name", () => {
    for (const [args, re] of [
      [["cflags"], /--param "cflags": expected NAME=VALUE/],
      [["=x"], /name before "=" is empty/],
      [["a=1", "a=2"], /--param "a" is given twice/],
    ] as const)
      assert.throws(
        () => parseParamArgs(args),
        (err: unknown) =>
          err instanceof StagefarmError && err.code === "invalid_argument" && re.test(err.message),
      );
  });
});
