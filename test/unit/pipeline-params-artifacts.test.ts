import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { computeCacheKey } from "../../shared/cache-key/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { missingParams, parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { FILE, SHA_A, assertOneError } from "../helpers/pipeline-assert.js";

const SHA_B = "b".repeat(64);

const SEEDED = `params:
  seed: { required: true, description: the seed digest }
  cd_seed: { default: "\${{ params.seed }}" }
  tag: { default: v1 }
stages:
  build:
    runner: shell
    inputs:
      seed: { artifact: "\${{ params.seed }}", path: seed.tar.xz }
      cd: { artifact: "\${{ params.cd_seed }}", path: cd.tar, unpack: true }
    env: { TAG: "\${{ params.tag }}" }
    script: echo "$TAG"
    outputs: { out: out }
  other:
    runner: shell
    env: { TAG: "\${{ params.tag }}" }
    script: echo "$TAG"
`;

void describe("required params, param defaults and artifact inputs", () => {
  void test("a required param without a value is refused at run, naming it and its description", () => {
    const spec = parsePipeline(SEEDED, FILE);
    assert.throws(
      () => resolvePipeline(spec, {}),
      (err: unknown) =>
        err instanceof StagefarmError &&
        err.code === "invalid_argument" &&
        err.message.includes("--param seed=…  (the seed digest)") &&
        !err.message.includes("cd_seed"),
    );
    assert.deepEqual(missingParams(spec, {}), ["seed", "cd_seed"]);
    assert.deepEqual(missingParams(spec, { seed: SHA_A }), []);
  });

  void test("a plan resolves without it: stages using it carry paramsMissing, others are keyable", () => {
    const spec = parsePipeline(SEEDED, FILE);
    const stages = resolvePipeline(spec, {}, { allowMissing: true });
    const build = stages.find((s) => s.name === "build");
    const other = stages.find((s) => s.name === "other");
    assert.deepEqual(build?.paramsMissing, ["cd_seed", "seed"]);
    assert.equal(other?.paramsMissing, undefined);
    assert.equal(other?.env["TAG"], "v1");
  });

  void test("a default naming another param takes its value; an override wins", () => {
    const spec = parsePipeline(SEEDED, FILE);
    const [build] = resolvePipeline(spec, { seed: SHA_A });
    const digests = build?.inputs.map((i) => (i.t === "artifact" ? i.digest : ""));
    assert.deepEqual(digests, [SHA_A, SHA_A]);
    const [b2] = resolvePipeline(spec, { seed: SHA_A, cd_seed: SHA_B });
    assert.deepEqual(
      b2?.inputs.map((i) => (i.t === "artifact" ? i.digest : "")),
      [SHA_A, SHA_B],
    );
  });

  void test("the artifact digest is part of the cache key", () => {
    const spec = parsePipeline(SEEDED, FILE);
    const key = (o: Record<string, string>): string => {
      const [build] = resolvePipeline(spec, o);
      assert.ok(build);
      return computeCacheKey(build, {});
    };
    assert.equal(key({ seed: SHA_A }), key({ seed: SHA_A }));
    assert.notEqual(key({ seed: SHA_A }), key({ seed: SHA_B }));
    assert.notEqual(key({ seed: SHA_A }), key({ seed: SHA_A, cd_seed: SHA_B }));
  });

  void test("a value that is not a digest is refused, telling where digests come from", () => {
    const spec = parsePipeline(SEEDED, FILE);
    assert.throws(
      () => resolvePipeline(spec, { seed: "stage3.tar.xz" }),
      (err: unknown) =>
        err instanceof StagefarmError &&
        err.message.includes('stage "build" input "seed" artifact') &&
        err.message.includes("stagefarm import FILE"),
    );
  });

  void test("parse errors: required with a default, a default that is text around a param, a chain", () => {
    assertOneError(
      `params:\n  p: { required: true, default: x }\nstages: { a: { runner: shell, script: x } }\n`,
      "default",
      'param "p": a required param has no default',
    );
    assertOneError(
      `params:\n  p: x\n  q: "v-\${{ params.p }}"\nstages: { a: { runner: shell, script: x } }\n`,
      '"v-',
      'param "q": a default may only be another param as a whole',
    );
    assertOneError(
      `params:\n  p: x\n  q: "\${{ params.p }}"\n  r: "\${{ params.q }}"\nstages: { a: { runner: shell, script: x } }\n`,
      "r:",
      'param "r": its default names param "q", whose default is itself another param',
    );
    assertOneError(
      `stages:\n  a:\n    runner: shell\n    script: x\n    inputs:\n      s: { artifact: "${SHA_A}", from: b.o }\n`,
      "artifact",
      'stage "a" input "s": "from" and "artifact" cannot be combined',
    );
    assertOneError(
      `stages:\n  a:\n    runner: shell\n    script: x\n    inputs:\n      s: { artifact: nope }\n`,
      "nope",
      'stage "a" input "s" artifact:',
    );
  });

  void test("YAML merge keys share runner data between stages; keys written in the stage win", () => {
    const text = `stages:
  a:
    runner: shell
    script: x
    with: &shared
      conf: { jobs: 2 }
      edits: [one]
  b:
    runner: shell
    script: x
    with:
      own: yes
      edits: [two]
      <<: *shared
`;
    const spec = parsePipeline(text, FILE);
    const b = spec.stages.find((s) => s.name === "b");
    assert.deepEqual(b?.with, { conf: { jobs: 2 }, edits: ["two"], own: "yes" });
  });
});
