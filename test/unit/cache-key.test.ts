import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cacheKeyMaterial,
  canonicalJson,
  computeCacheKey,
  stageKeyReady,
} from "../../shared/cache-key/index.js";
import { normaliseScript } from "../../shared/cache-key/testing.js";
import { sha256, type Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import {
  parsePipeline,
  resolvePipeline,
  type ArtifactRef,
  type ResolvedStage,
} from "../../shared/pipeline/index.js";
import { RUNNER_VERSIONS } from "../../shared/runner-kinds.js";

const ZLIB_SHA = sha256("zlib bytes");
const PATCH_SHA = sha256("patch bytes");
const SRC: ArtifactRef = { digest: ZLIB_SHA, size: 10, kind: "file" };
const BIN: ArtifactRef = { digest: sha256("hello binary"), size: 12, kind: "file" };

const BASE = `# key test pipeline
pipeline: keys
platform: linux/x86_64
params:
  cflags: "-O2"
  unused: "a"
env:
  LC_ALL: C
stages:
  fetch:
    runner: fetch
    sources:
      zlib: { url: "https://example.org/zlib-1.3.tar.gz", sha256: "${ZLIB_SHA}" }
  compile:
    runner: shell
    description: compile hello
    requires: [x86_64]
    inputs:
      src: fetch.zlib
      patch: { url: "https://example.org/a.patch", sha256: "${PATCH_SHA}", path: patches/a.patch }
    env:
      CFLAGS: "\${{ params.cflags }}"
      TZ: UTC
    script: |
      ./configure
      make
    outputs:
      bin: out/hello
    timeout: 30m
    retries: 1
    estimate: 2h
  link:
    runner: shell
    inputs:
      obj: compile.bin
    script: ld -o out/app inputs/obj
    outputs:
      app: out/app
`;

interface KeyOpts {
  params?: Record<string, string>;
  inputs?: Record<string, ArtifactRef>;
  runnerVersions?: typeof RUNNER_VERSIONS;
}

function resolved(text: string, stage: string, params: Record<string, string> = {}): ResolvedStage {
  const found = resolvePipeline(parsePipeline(text, "pipelines/keys/pipeline.yaml"), params).find(
    (s) => s.name === stage,
  );
  return found ?? assert.fail(`no stage ${stage}`);
}

/** The cache key of `stage` in the pipeline `text`. */
function keyOf(text: string, stage = "compile", opts: KeyOpts = {}): Digest {
  const inputs = opts.inputs ?? (stage === "link" ? { obj: BIN } : { src: SRC });
  const runnerVersions = opts.runnerVersions;
  return computeCacheKey(
    resolved(text, stage, opts.params),
    inputs,
    runnerVersions ? { runnerVersions } : {},
  );
}

/** Replaces `from` with `to` in `text`, failing if `from` is absent (so no case is vacuous). */
function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `"${from}" not in the text`);
  return text.replace(from, to);
}

const base = keyOf(BASE);

void describe("cache key changes when an output can change", () => {
  const cases: Array<[string, () => Digest]> = [
    ["script text", () => keyOf(edit(BASE, "      make\n", "      make -j2\n"))],
    ["stage env value", () => keyOf(edit(BASE, "TZ: UTC", "TZ: CET"))],
    ["stage env key", () => keyOf(edit(BASE, "TZ: UTC", "TZ2: UTC"))],
    ["pipeline env value", () => keyOf(edit(BASE, "LC_ALL: C", "LC_ALL: POSIX"))],
    [
      "runner kind",
      () =>
        keyOf(
          edit(
            BASE,
            "runner: shell\n    description",
            "runner: chroot\n    clamp_mtime: true\n    description",
          ),
        ),
    ],
    ["runner version", () => keyOf(BASE, "compile", { runnerVersions: { ...RUNNER_VERSIONS, shell: "2" } })],
    [
      "input digest",
      () => keyOf(BASE, "compile", { inputs: { src: { ...SRC, digest: sha256("other zlib") } } }),
    ],
    ["input kind", () => keyOf(BASE, "compile", { inputs: { src: { ...SRC, kind: "tree" } } })],
    ["input path", () => keyOf(edit(BASE, "src: fetch.zlib", "src: { from: fetch.zlib, path: zlib }"))],
    ["input unpack", () => keyOf(edit(BASE, "src: fetch.zlib", "src: { from: fetch.zlib, unpack: false }"))],
    ["pinned input sha256", () => keyOf(edit(BASE, PATCH_SHA, sha256("other patch")))],
    ["platform", () => keyOf(edit(BASE, "platform: linux/x86_64", "platform: linux/aarch64"))],
    ["a used param's value", () => keyOf(BASE, "compile", { params: { cflags: "-O3" } })],
    ["a used param's default", () => keyOf(edit(BASE, 'cflags: "-O2"', 'cflags: "-Os"'))],
    ["output path", () => keyOf(edit(BASE, "bin: out/hello", "bin: out/hello2"))],
    ["output kind", () => keyOf(edit(BASE, "bin: out/hello", "bin: { path: out/hello, kind: file }"))],
    [
      "output exclude",
      () => keyOf(edit(BASE, "bin: out/hello", 'bin: { path: out/hello, exclude: ["./tmp"] }')),
    ],
    ["clamp_mtime", () => keyOf(edit(BASE, "    retries: 1\n", "    retries: 1\n    clamp_mtime: false\n"))],
    [
      "runner data (with)",
      () => keyOf(edit(BASE, "    retries: 1\n", "    retries: 1\n    with: { target: stage3 }\n")),
    ],
  ];
  for (const [what, variant] of cases)
    void test(what, () => {
      assert.notEqual(variant(), base);
    });

  void test("fetch source url and sha256", () => {
    const fetchBase = keyOf(BASE, "fetch", { inputs: {} });
    const url = keyOf(edit(BASE, "zlib-1.3.tar.gz", "zlib-1.3.1.tar.gz"), "fetch", { inputs: {} });
    const sha = keyOf(edit(BASE, `sha256: "${ZLIB_SHA}"`, `sha256: "${sha256("x")}"`), "fetch", {
      inputs: {},
    });
    assert.equal(new Set([fetchBase, url, sha]).size, 3);
  });

  void test("a different upstream output changes the downstream key", () => {
    assert.notEqual(
      keyOf(BASE, "link", { inputs: { obj: { ...BIN, digest: sha256("other binary") } } }),
      keyOf(BASE, "link"),
    );
  });
});

void describe("cache key stays the same when no output can change", () => {
  const reordered = BASE.replace(
    / {2}compile:\n[\s\S]*?(?= {2}link:)/,
    `  compile:
    estimate: 2h
    outputs:
      bin: out/hello
    script: |
      ./configure
      make
    env:
      TZ: UTC
      CFLAGS: "\${{ params.cflags }}"
    inputs:
      patch: { path: patches/a.patch, sha256: "${PATCH_SHA}", url: "https://example.org/a.patch" }
      src: fetch.zlib
    retries: 1
    timeout: 30m
    requires: [x86_64]
    description: compile hello
    runner: shell
`,
  );
  const flow = BASE.replace(
    / {2}compile:\n[\s\S]*?(?= {2}link:)/,
    `  compile: {runner: shell, description: "compile hello", requires: [x86_64],
        inputs: {src: {from: "fetch.zlib"}, patch: {url: 'https://example.org/a.patch', sha256: ${PATCH_SHA}, path: "patches/a.patch"}},
        env: {CFLAGS: '\${{ params.cflags }}', TZ: "UTC"},
        script: "./configure\\nmake\\n",
        outputs: {bin: {path: out/hello}}, timeout: 1800, retries: 1, estimate: 7200}
`,
  );
  const commented = [
    ["stages:\n", "stages: # the stages\n"],
    [
      "    runner: shell\n    description",
      "    # runs in a shell\n    runner: shell # inline\n    description",
    ],
    ["      TZ: UTC\n", "      TZ: UTC # timezone\n      # nothing else\n"],
    ["    outputs:\n      bin", "    outputs: # one output\n\n      bin"],
  ].reduce((text, [from = "", to = ""]) => edit(text, from, to), BASE);
  const cases: Array<[string, () => Digest]> = [
    ["YAML key order (stage fields, env, input fields)", () => keyOf(reordered)],
    ["YAML key order (top level)", () => keyOf(BASE.replace(/^(params:[\s\S]*?)(stages:[\s\S]*)$/m, "$2$1"))],
    ["flow style, quoting, other indentation, seconds for durations", () => keyOf(flow)],
    ["comments", () => keyOf(commented)],
    ["CRLF line endings", () => keyOf(BASE.replace(/\n/g, "\r\n"))],
    [
      "trailing whitespace and blank lines around the script",
      () => keyOf(edit(BASE, "      ./configure\n      make\n", "\n      ./configure  \n      make\t\n\n")),
    ],
    ["an unused param's value", () => keyOf(BASE, "compile", { params: { unused: "b" } })],
    ["an unused param's default", () => keyOf(edit(BASE, 'unused: "a"', 'unused: "zzz"'))],
    ["a new param", () => keyOf(edit(BASE, "params:\n", "params:\n  extra: x\n"))],
    ["stage description", () => keyOf(edit(BASE, "description: compile hello", "description: compiles it"))],
    ["timeout", () => keyOf(edit(BASE, "timeout: 30m", "timeout: 2h"))],
    ["retries", () => keyOf(edit(BASE, "retries: 1", "retries: 3"))],
    ["estimate", () => keyOf(edit(BASE, "estimate: 2h", "estimate: 5m"))],
    ["requires labels", () => keyOf(edit(BASE, "requires: [x86_64]", "requires: [x86_64, big]"))],
    ["pipeline name", () => keyOf(edit(BASE, "pipeline: keys", "pipeline: other"))],
    ["another stage added", () => keyOf(`${BASE}  extra:\n    runner: shell\n    script: true\n`)],
    [
      "the pinned input's url (same sha256 = same bytes)",
      () => keyOf(edit(BASE, "example.org/a.patch", "mirror.example.net/a.patch")),
    ],
    [
      "an input record holding extra artifacts",
      () => keyOf(BASE, "compile", { inputs: { src: SRC, other: BIN } }),
    ],
    [
      "a runner version of another kind",
      () => keyOf(BASE, "compile", { runnerVersions: { ...RUNNER_VERSIONS, emerge: "9" } }),
    ],
    [
      "explicit defaults (path, unpack, clamp_mtime)",
      () =>
        keyOf(
          edit(
            edit(BASE, "src: fetch.zlib", "src: { from: fetch.zlib, path: inputs/src, unpack: true }"),
            "    retries: 1\n",
            "    retries: 1\n    clamp_mtime: true\n",
          ),
        ),
    ],
  ];
  for (const [what, variant] of cases)
    void test(what, () => {
      assert.equal(variant(), base);
    });

  void test("renaming a stage (and the references to it)", () => {
    const renamed = BASE.replace("  compile:", "  build:").replace("obj: compile.bin", "obj: build.bin");
    assert.equal(keyOf(renamed, "build"), base);
    assert.equal(keyOf(renamed, "link"), keyOf(BASE, "link"));
  });

  void test("a param passed through env changes exactly the stages whose env holds it", () => {
    // compile passes cflags as env (params never become script text); link does not use it.
    for (const cflags of ["-O3", "$(id) `id` '\"", "-O2\n-g"]) {
      assert.notEqual(keyOf(BASE, "compile", { params: { cflags } }), base, JSON.stringify(cflags));
      assert.equal(keyOf(BASE, "link", { params: { cflags } }), keyOf(BASE, "link"), JSON.stringify(cflags));
    }
    assert.notEqual(
      keyOf(BASE, "compile", { params: { cflags: "-O3" } }),
      keyOf(BASE, "compile", { params: { cflags: "-O3 " } }),
      "every byte of the value counts",
    );
    const both = edit(
      BASE,
      "    script: ld -o out/app inputs/obj\n",
      '    env: { FLAGS: "${{ params.cflags }}" }\n    script: ld -o out/app inputs/obj\n',
    );
    assert.notEqual(keyOf(both, "link", { params: { cflags: "-O3" } }), keyOf(both, "link"));
  });

  void test("an upstream rebuild that produces identical bytes (early cutoff)", () => {
    const rebuilt = edit(BASE, "      make\n", "      make V=1\n");
    assert.notEqual(keyOf(rebuilt, "compile"), base, "the upstream stage itself is rebuilt");
    assert.equal(keyOf(rebuilt, "link", { inputs: { obj: { ...BIN } } }), keyOf(BASE, "link"));
  });
});

void describe("key material", () => {
  void test("holds exactly the documented fields, with inputs by digest", () => {
    const m = cacheKeyMaterial(resolved(BASE, "compile"), { src: SRC });
    assert.deepEqual(Object.keys(m).sort(), [
      "clampMtime",
      "env",
      "inputs",
      "outputs",
      "platform",
      "runner",
      "script",
      "sources",
      "v",
      "with",
    ]);
    assert.deepEqual(m.runner, { kind: "shell", version: RUNNER_VERSIONS.shell });
    assert.equal(m.script, "./configure\nmake");
    assert.deepEqual(m.env, { LC_ALL: "C", CFLAGS: "-O2", TZ: "UTC" });
    assert.deepEqual(m.inputs, {
      src: { digest: ZLIB_SHA, kind: "file", path: "inputs/src", unpack: true },
      patch: { digest: PATCH_SHA, kind: "file", path: "patches/a.patch", unpack: false },
    });
    assert.deepEqual(m.outputs, { bin: { path: "out/hello", kind: null, exclude: [] } });
    assert.equal(computeCacheKey(resolved(BASE, "compile"), { src: SRC }), sha256(canonicalJson(m)));
    assert.ok(!canonicalJson(m).includes("compile"), "the stage name is not in the material");
  });

  void test("a missing stage input is an internal error naming stage and input; stageKeyReady tells first", () => {
    const link = resolved(BASE, "link");
    assert.equal(stageKeyReady(link, {}), false);
    assert.equal(stageKeyReady(link, { obj: undefined }), false);
    assert.equal(stageKeyReady(link, { obj: BIN }), true);
    assert.equal(stageKeyReady(resolved(BASE, "fetch"), {}), true, "pinned sources need no artifact");
    assert.throws(
      () => computeCacheKey(link, {}),
      (err: unknown) =>
        err instanceof StagefarmError &&
        err.code === "internal" &&
        /stage "link".*input "obj" \(compile\.bin\)/.test(err.message),
    );
    assert.throws(
      () => computeCacheKey(link, { obj: { ...BIN, digest: "not-a-digest" } }),
      (err: unknown) => err instanceof StagefarmError && /digest/.test(err.message),
    );
  });
});

void describe("canonicalJson", () => {
  void test("sorts keys at every level and has no whitespace", () => {
    const a = canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: "x" } });
    assert.equal(a, '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    assert.equal(canonicalJson({ a: { c: "x", d: [3, { y: null, z: true }] }, b: 1 }), a);
    assert.equal(canonicalJson({ é: 1, z: 2, A: 3 }), '{"A":3,"z":2,"é":1}');
    assert.equal(canonicalJson({ a: undefined, b: 'q"\n' }), '{"b":"q\\"\\n"}');
    assert.equal(canonicalJson(Object.create(null) as object), "{}");
  });

  void test("rejects what JSON cannot carry faithfully", () => {
    for (const bad of [
      NaN,
      Infinity,
      { a: [1, undefined] },
      { d: new Date(0) },
      { m: new Map() },
      1n,
      () => 1,
      Symbol("s"),
    ])
      assert.throws(
        () => canonicalJson(bad),
        (err: unknown) => err instanceof StagefarmError && err.code === "internal",
      );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), /a cycle/);
    const shared = { x: 1 };
    assert.equal(canonicalJson([shared, shared]), '[{"x":1},{"x":1}]', "a repeated object is not a cycle");
  });
});

void describe("normaliseScript", () => {
  void test("removes formatting only", () => {
    assert.equal(normaliseScript("\r\n\n  a  \r\n\tb\t\n\n"), "  a\n\tb");
    assert.equal(normaliseScript("a\n\n\nb"), "a\n\n\nb", "inner blank lines are kept");
    assert.equal(normaliseScript("echo 'a  '\n"), "echo 'a  '", "only trailing whitespace goes");
    assert.notEqual(normaliseScript("  a"), normaliseScript("a"), "leading indentation is meaningful");
    assert.equal(normaliseScript(""), "");
  });
});
