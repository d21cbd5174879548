/**
 * User-keyed data (env, params, stages, outputs, `with:` maps) never loses a key silently:
 * `__proto__`, `constructor` and `prototype` are refused with an error at the key, wherever they
 * appear, and so is `--param __proto__=x` (it would vanish into the prototype).
 * And a file that is not a pipeline at all yields a bounded, escaped list of problems.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";
import {
  PipelineError,
  parseParamArgs,
  parsePipeline,
  resolvePipeline,
} from "../../shared/pipeline/index.js";
import { MAX_REPORTED_ISSUES } from "../../shared/pipeline/testing.js";
import { scriptEnv } from "../../agent/runners/common/index.js";
import { cacheKeyMaterial, computeCacheKey } from "../../shared/cache-key/index.js";
import { FILE, SHELL, assertOneError } from "../helpers/pipeline-assert.js";

const RESERVED = ["__proto__", "constructor", "prototype"] as const;

void describe("reserved keys are refused, never dropped", () => {
  for (const key of RESERVED) {
    void test(`"${key}" in pipeline env, stage env, params, outputs and with: maps`, () => {
      const why = `the key "${key}" is reserved`;
      assertOneError(`env:\n  ${key}: x\n${SHELL()}`, key, `pipeline env: ${why}`);
      assertOneError(SHELL(`    env:\n      ${key}: x\n`), key, `stage "build" env: ${why}`);
      assertOneError(`params:\n  ${key}: x\n${SHELL()}`, key, `params: ${why}`);
      assertOneError(SHELL(`    outputs:\n      ${key}: out\n`), key, `stage "build" outputs: ${why}`);
      assertOneError(SHELL(`    with:\n      a: { ${key}: x }\n`), key, `stage "build" with.a: ${why}`);
      assertOneError(
        SHELL(`    with:\n      a: &a { ok: 1 }\n      b: { <<: *a, ${key}: x }\n`),
        `${key}:`,
        `stage "build" with.b: ${why}`,
      );
    });
  }

  void test("ordinary keys go through to the resolved stage unchanged", () => {
    const spec = parsePipeline(SHELL(`    env:\n      PROTO: x\n    with:\n      a: { proto: 1 }\n`), FILE);
    const [stage] = resolvePipeline(spec, {});
    assert.deepEqual(stage?.env, { PROTO: "x" });
    assert.deepEqual(stage?.with, { a: { proto: 1 } });
  });

  void test("--param with a reserved name is refused, not silently ignored", () => {
    for (const key of RESERVED)
      assert.throws(
        () => parseParamArgs([`${key}=x`]),
        (err: unknown) =>
          err instanceof StagefarmError &&
          err.code === "invalid_argument" &&
          err.message.startsWith(`--param "${key}": no param has this name; the key "${key}" is reserved`),
      );
  });
});

void describe("a file that is not a pipeline", () => {
  void test("reports at most the first issues, then how many more", () => {
    // Like a password database read as YAML: one "unknown key" per line.
    const lines = Array.from({ length: 500 }, (_, i) => `user${i}: x:${i}:${i}:/home/user${i}:/bin/sh`);
    try {
      parsePipeline(`${lines.join("\n")}\n`, "/etc/passwd");
      assert.fail("expected a PipelineError");
    } catch (err: unknown) {
      assert.ok(err instanceof PipelineError);
      const out = err.message.split("\n");
      assert.equal(out.length, MAX_REPORTED_ISSUES + 1);
      assert.equal(out.at(-1), `… and 481 more problems (the first ${MAX_REPORTED_ISSUES} are shown)`);
      assert.doesNotMatch(err.message, /user499/);
      assert.equal((err.details["issues"] as unknown[]).length, MAX_REPORTED_ISSUES);
      assert.equal(err.details["moreIssues"], 481);
    }
  });

  void test("echoed keys are escaped and cut short", () => {
    const key = `"\\e]0;owned\\a\\u202e${"k".repeat(500)}"`;
    const line = assertOneError(
      `${key}: 1\n${SHELL()}`,
      key,
      'top level: unknown key "\\u{1b}]0;owned\\u{7}\\u{202e}kk',
    );
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    assert.doesNotMatch(line, /[\u0000-\u001f\u202e]/u);
    assert.match(line, /…\(\d+ more\)/);
    assert.ok(line.length < 300, line);
  });
});

void describe("workspace paths", () => {
  void test("control characters and overlong paths are refused, echoed escaped", () => {
    assertOneError(
      SHELL('    outputs:\n      o: "out\\e[2Jx"\n'),
      '"out',
      'path "out\\u{1b}[2Jx" must not contain control characters',
    );
    assertOneError(
      SHELL(`    outputs:\n      o: ${"a/".repeat(600)}b\n`),
      "a/a/",
      "is longer than 1024 characters",
    );
  });
});

void describe("a spec that holds such a key anyway (e.g. read back from JSON) keeps it downstream", () => {
  void test("resolve, cache key and runner env keep an own __proto__ key instead of dropping it", () => {
    const spec = parsePipeline(SHELL(), FILE);
    const build = spec.stages[0];
    assert.ok(build);
    const env = JSON.parse('{"__proto__": "x", "A": "1"}') as Record<string, string>;
    const [stage] = resolvePipeline({ ...spec, stages: [{ ...build, env }] }, {});
    assert.ok(stage);
    assert.deepEqual(Object.keys(stage.env).sort(), ["A", "__proto__"]);
    assert.equal(Object.getOwnPropertyDescriptor(stage.env, "__proto__")?.value, "x");
    const material = cacheKeyMaterial(stage, {});
    assert.ok(
      JSON.stringify(material).includes('"__proto__":"x"'),
      "the key is part of the cache key material",
    );
    const [plain] = resolvePipeline(spec, {});
    assert.ok(plain);
    assert.notEqual(computeCacheKey(stage, {}), computeCacheKey(plain, {}));
    const runEnv = scriptEnv(stage, { workspace: "/w", tmpDir: "/w/tmp", jobs: 1 });
    assert.equal(Object.getOwnPropertyDescriptor(runEnv, "__proto__")?.value, "x");
  });
});
