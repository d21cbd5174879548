/**
 * shared/yaml: the bounded reader every YAML document goes through, and config files (the
 * coordinator's auth file) read with it. Hostile input finishes and is refused, naming the
 * limit and line:col; the content never appears in the message.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseAuthConfig } from "../../coordinator/auth/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { YAML_BOUNDS, parseYamlData, readYamlDocument } from "../../shared/yaml/index.js";

const SLOW = { timeout: 60_000 };

function bomb(levels: number, merge: boolean): string {
  let s = "a0: &a0 { k: [x, x, x, x, x, x, x, x, x, x] }\n";
  for (let i = 1; i < levels; i++) {
    const refs = Array.from({ length: 10 }, () => `*a${i - 1}`).join(", ");
    s += merge ? `a${i}: &a${i}\n  <<: [${refs}]\n  l${i}: [${refs}]\n` : `a${i}: &a${i} [${refs}]\n`;
  }
  return s;
}

function refused(fn: () => unknown, why: RegExp): StagefarmError {
  try {
    fn();
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, String(err));
    assert.equal(err.code, "invalid_argument");
    assert.match(err.message, why);
    return err;
  }
  assert.fail("expected a refusal");
}

void describe("readYamlDocument", () => {
  void test("refuses by size, depth and key counts with the offset of the problem", () => {
    const big = readYamlDocument(`a: ${"x".repeat(YAML_BOUNDS.maxBytes)}\n`);
    assert.equal(big.t, "refused");
    const deep = readYamlDocument(`a: ${"{b: ".repeat(200)}1${"}".repeat(200)}\n`);
    assert.ok(deep.t === "refused");
    assert.match(deep.problem.message, /more than 64 levels deep/);
    assert.equal(deep.problem.offset, 3 + 4 * (YAML_BOUNDS.maxDepth - 1)); // the 64th "{b: " nests at 65
    const tight = { ...YAML_BOUNDS, maxMappingKeys: 3 };
    const keys = readYamlDocument("{a: 1, b: 2, c: 3, d: 4}", {}, tight);
    assert.ok(keys.t === "refused");
    assert.equal(keys.problem.offset, "{a: 1, b: 2, c: 3, ".length);
  });

  void test("a document inside the bounds parses as with yaml's parseDocument", () => {
    const r = readYamlDocument("a: &x [1, 2]\nb: *x\n");
    assert.ok(r.t === "parsed");
    assert.deepEqual(r.doc.toJS(), { a: [1, 2], b: [1, 2] });
    const two = readYamlDocument("a: 1\n---\nb: 2\n");
    assert.ok(two.t === "parsed");
    assert.equal(two.doc.errors[0]?.code, "MULTIPLE_DOCS");
  });
});

void describe("parseYamlData (config files)", () => {
  void test("an alias bomb finishes and is refused", SLOW, () => {
    refused(() => parseYamlData(bomb(12, false), "f.yaml"), /f\.yaml: .*[Ee]xcessive alias count/);
  });

  void test("a merge-key bomb finishes and is refused", SLOW, () => {
    refused(() => parseYamlData(bomb(12, true), "f.yaml"), /f\.yaml: .*[Ee]xcessive alias count/);
  });

  void test("deep nesting is refused at its line:col, not by a stack overflow", () => {
    const err = refused(() => parseYamlData(`x:\n  y: ${"[".repeat(50_000)}\n`, "f.yaml"), /^f\.yaml:2:/);
    assert.match(err.message, /nesting depth limit/);
  });

  void test("a duplicate key is refused at its position without echoing it", () => {
    const err = refused(
      () => parseYamlData("a: 1\nsecretkey: 2\nsecretkey: 3\n", "f.yaml"),
      /^f\.yaml:3:1: /,
    );
    assert.doesNotMatch(err.message, /secretkey/);
  });

  void test("the coordinator's auth file is read with the same bounds", SLOW, () => {
    refused(() => parseAuthConfig(`tokens: []\n${bomb(12, true)}`, "auth.yaml"), /auth file auth\.yaml/);
    refused(() => parseAuthConfig(`tokens: ${"[".repeat(10_000)}`, "auth.yaml"), /nesting depth limit/);
  });
});
