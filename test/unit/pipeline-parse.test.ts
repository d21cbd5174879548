import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import {
  loadPipeline,
  parsePipeline,
  type PipelineSpec,
  type SourcePos,
} from "../../shared/pipeline/index.js";
import { FIXTURES, posOf } from "../helpers/pipeline-assert.js";

void describe("parsePipeline: a valid file", () => {
  void test("the full fixture parses with every field and default", async () => {
    const path = join(FIXTURES, "full/pipeline.yaml");
    const spec: PipelineSpec = await loadPipeline(path);
    const text = await readFile(path, "utf8");
    const at = (marker: string): SourcePos => {
      const [line = 0, col = 0] = posOf(text, marker).split(":").map(Number);
      return { file: path, line, col };
    };
    assert.equal(spec.file, path);
    assert.equal(spec.name, "demo");
    assert.equal(spec.description, "Build hello and a rootfs-like tree");
    assert.equal(spec.platform, "linux/x86_64");
    assert.deepEqual(
      spec.params.map((p) => [p.name, p.default, p.description]),
      [
        ["cflags", "-O2", undefined],
        ["greeting", "hello", "text printed"],
        ["jobs", "04", undefined], // a plain scalar keeps the text written
      ],
    );
    assert.deepEqual(spec.params[1]?.pos, at("greeting:"));
    assert.deepEqual(spec.env, { LC_ALL: "C" });
    assert.deepEqual(
      spec.stages.map((s) => s.name),
      ["sources", "rootfs", "compile", "release"],
    );
    const [sources, rootfs, compile, release] = spec.stages;
    assert.ok(sources && rootfs && compile && release);

    assert.equal(sources.runner, "fetch");
    assert.deepEqual(sources.sources[0]?.source, {
      url: "https://example.org/zlib-1.3.tar.gz",
      sha256: "ff0ba4c292013dbc27530b3a81e1f9a813cd39de01ca5e0f8bf355702efa593e",
    });
    assert.deepEqual(
      sources.outputs.map((o) => [o.name, o.kind, o.path]),
      [["zlib", "file", "sources/zlib"]],
    );
    assert.equal(sources.clampMtime, true);
    assert.equal(sources.timeoutMs, 24 * 3_600_000);
    assert.equal(sources.retries, 0);
    assert.equal(sources.script, undefined);

    assert.equal(rootfs.clampMtime, false, "chroot stages keep real mtimes by default");
    assert.deepEqual(rootfs.inputs[0], {
      t: "source",
      name: "seed",
      source: { url: "https://example.org/seed.tar.zst", sha256: "0".repeat(63) + "1" },
      path: "inputs/seed",
      unpack: true,
      pos: at("seed:"),
    });
    assert.deepEqual(rootfs.outputs[0], {
      name: "tree",
      path: "out/root",
      kind: "tree",
      exclude: ["./var/tmp/*"],
      pos: at("tree: { path"),
    });

    assert.equal(compile.description, "compile hello");
    assert.deepEqual(compile.requires, ["x86_64"]);
    assert.deepEqual(compile.pos, at("compile:"));
    const [src, tree, patch] = compile.inputs;
    assert.deepEqual(src, {
      t: "stage",
      name: "src",
      stage: "sources",
      output: "zlib",
      path: "inputs/src",
      unpack: true,
      pos: at("src:"),
    });
    assert.ok(tree?.t === "stage" && patch?.t === "source");
    assert.deepEqual([tree.stage, tree.output, tree.path, tree.unpack], ["rootfs", "tree", "root", true]);
    assert.deepEqual(
      [patch.path, patch.unpack, patch.source.url],
      ["patches/a.patch", false, "file:///srv/patches/a.patch"],
    );
    assert.deepEqual(compile.env, {
      CFLAGS: "${{ params.cflags }}",
      MAKEJOBS: "8",
      GREETING: "${{ params.greeting }}",
    });
    assert.equal(compile.script, 'make\necho "$GREETING" > out/greeting\n');
    assert.deepEqual(compile.outputs[0], {
      name: "bin",
      path: "out/hello",
      exclude: [],
      pos: at("bin: out"),
    });
    assert.equal(compile.outputs[1]?.kind, "file");
    assert.equal(compile.timeoutMs, 30 * 60_000);
    assert.equal(compile.retries, 1);
    assert.equal(compile.estimateMs, 2 * 3_600_000);
    assert.equal(compile.clampMtime, true);

    assert.equal(release.runner, "catalyst");
    assert.equal(release.timeoutMs, 3_600_000, "a bare number is seconds");
    assert.equal(release.clampMtime, true);
    assert.deepEqual(release.with, {
      spec: "releases/specs/amd64/stage3-openrc-23.spec",
      snapshot: "snapshot.sqfs",
      treeish: "abc123",
      timestamp: "${{ params.greeting }}-1",
      overrides: { version_stamp: "${{ params.greeting }}-1", install_mask: ["a", "b"] },
      catalyst_conf: { options: ["pkgcache"], jobs: 2, compression_mode: "pixz" },
    });
  });

  void test("name defaults to the directory, platform to linux/x86_64; aliases resolve", () => {
    const spec = parsePipeline(
      [
        "stages:",
        "  a:",
        "    runner: shell",
        "    script: x",
        "    env: &common { A: '1' }",
        "  b:",
        "    runner: emerge",
        "    env: *common",
        "    with: { emerge: [{ args: ['@world'] }] }",
      ].join("\n"),
      "some/where/bootstrap/pipeline.yaml",
    );
    assert.equal(spec.name, "bootstrap");
    assert.equal(spec.platform, "linux/x86_64");
    assert.deepEqual(spec.stages[1]?.env, { A: "1" });
    assert.equal(spec.stages[1]?.clampMtime, false);
    assert.equal(spec.stages[1]?.script, undefined, "emerge needs no script");
  });

  void test("loadPipeline reports a missing file as not_found with its path", async () => {
    const missing = join(FIXTURES, "nope/pipeline.yaml");
    await assert.rejects(loadPipeline(missing), (err: unknown) => {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "not_found");
      assert.ok(err.message.includes(missing), err.message);
      return true;
    });
  });
});
