/**
 * The parser's bounds (shared/yaml/bounds.ts): hostile documents finish and are refused with one
 * error naming the limit and where it was passed; the shipped pipelines pass far inside them.
 * Each test has a generous timeout so that a regression fails instead of hanging the suite.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePipeline } from "../../shared/pipeline/index.js";
import { YAML_BOUNDS, readYamlDocument } from "../../shared/yaml/index.js";
import { repoRoot } from "../helpers/cli.js";
import { FILE, errorsOf, posOf } from "../helpers/pipeline-assert.js";

const SLOW = { timeout: 60_000 };
const stage = (withBlock: string) =>
  `stages:\n  a:\n    runner: shell\n    script: make\n    with:\n${withBlock}`;

/** A "billion laughs": each level is a list of ten aliases of the level before (10^levels values). */
function aliasBomb(levels: number): string {
  let s = "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (let i = 1; i < levels; i++)
    s += `      l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(", ")}]\n`;
  return stage(s);
}

/** The same with merge keys: each level merges ten aliases of the level before. */
function mergeBomb(levels: number): string {
  let s = "      m0: &m0 { k0: [x, x, x, x, x, x, x, x, x, x] }\n";
  for (let i = 1; i < levels; i++)
    s +=
      `      m${i}: &m${i}\n        <<: [${Array.from({ length: 10 }, () => `*m${i - 1}`).join(", ")}]\n` +
      `        k${i}: [${Array.from({ length: 10 }, () => `*m${i - 1}`).join(", ")}]\n`;
  return stage(s);
}

function onlyError(text: string): string {
  const lines = errorsOf(text);
  assert.equal(lines.length, 1, `expected one issue, got:\n${lines.join("\n")}`);
  return lines[0] ?? "";
}

void describe("parsePipeline: bounds", () => {
  void test("an alias bomb in with: is refused at the alias expansion limit", SLOW, () => {
    const text = aliasBomb(12);
    assert.ok(text.length < 1000, "a few hundred bytes");
    const line = onlyError(text);
    assert.match(line, /the data has more than 100000 values \(the alias expansion limit\)/);
    assert.ok(line.startsWith(`${FILE}:`));
  });

  void test("a merge-key bomb in with: is refused at the alias expansion limit", SLOW, () => {
    assert.match(onlyError(mergeBomb(12)), /the alias expansion limit/);
  });

  void test("aliases that stay under the limit still expand (shared with: data keeps working)", () => {
    const text = `${stage("      a: &a { k: v }\n      b: { <<: *a, j: w }\n")}`;
    const spec = parsePipeline(text, FILE);
    assert.deepEqual(spec.stages[0]?.with, { a: { k: "v" }, b: { k: "v", j: "w" } });
  });

  void test("aliases nested through each other past the depth limit are refused", SLOW, () => {
    let s = "      n0: &n0 [x]\n";
    for (let i = 1; i <= YAML_BOUNDS.maxDepth + 5; i++) s += `      n${i}: &n${i} [*n${i - 1}]\n`;
    assert.match(onlyError(stage(s)), /nests more than 64 levels deep \(the nesting depth limit\)/);
  });

  void test(
    "deep flow nesting is refused with the depth limit at its position, not a stack overflow",
    SLOW,
    () => {
      const text = stage(`      deep: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`);
      const line = onlyError(text);
      // The root, stages, a and with are four levels: the 61st "[" is the 65th level.
      const at = `${posOf(text, "deep:").split(":")[0]}:${"      deep: ".length + YAML_BOUNDS.maxDepth - 4 + 1}`;
      assert.equal(
        line,
        `${FILE}:${at}: error: the document nests collections more than 64 levels deep (the nesting depth limit)`,
      );
      assert.doesNotMatch(line, /call stack/);
    },
  );

  void test("deep block nesting is refused the same way", SLOW, () => {
    let s = "";
    for (let i = 0; i < 200; i++) s += `${" ".repeat(6 + 2 * i)}k${i}:\n`;
    const line = onlyError(stage(s));
    assert.match(line, /more than 64 levels deep \(the nesting depth limit\)/);
    assert.doesNotMatch(line, /call stack/);
  });

  void test("env entries past the per-mapping key limit are refused at the first key past it", SLOW, () => {
    const n = YAML_BOUNDS.maxMappingKeys + 30_000;
    let env = "env:\n";
    for (let i = 0; i < n; i++) env += `  V${i}: x\n`;
    const text = `${env}stages:\n  a: { runner: shell, script: make }\n`;
    const line = onlyError(text);
    assert.equal(
      line,
      `${FILE}:${posOf(text, `V${YAML_BOUNDS.maxMappingKeys}:`)}: error: a mapping has ${n} keys, more than the limit of ${YAML_BOUNDS.maxMappingKeys} keys per mapping`,
    );
  });

  void test("many mappings under the per-mapping limit are refused at the document's key limit", SLOW, () => {
    // Flow mappings, the fewest bytes per key: the document stays under the size limit.
    const perMapping = YAML_BOUNDS.maxMappingKeys - 1;
    const mappings = Math.ceil(YAML_BOUNDS.maxKeys / perMapping) + 1;
    let stages = "stages:\n";
    for (let s = 0; s < mappings; s++) {
      const keys = Array.from({ length: perMapping }, (_, i) => `V${i}: x`).join(", ");
      stages += `  s${s}:\n    runner: shell\n    script: make\n    env: { ${keys} }\n`;
    }
    assert.ok(Buffer.byteLength(stages) < YAML_BOUNDS.maxBytes);
    assert.match(
      onlyError(stages),
      new RegExp(`more than ${YAML_BOUNDS.maxKeys} keys in all \\(the limit of keys per document\\)`),
    );
  });

  void test("a document over the size limit is refused before it is parsed", SLOW, () => {
    const text = `stages:\n  a: { runner: shell, script: make }\n# ${"x".repeat(YAML_BOUNDS.maxBytes + (2 << 20))}\n`;
    assert.equal(
      onlyError(text),
      `${FILE}:1:1: error: the document is ${text.length} bytes, more than the limit of ${YAML_BOUNDS.maxBytes} bytes (${YAML_BOUNDS.maxBytes >> 10} KiB)`,
    );
    // The limit itself: 4 MiB (shared/yaml/bounds.ts says why).
    assert.equal(YAML_BOUNDS.maxBytes, 4 << 20);
  });

  void test("the shipped pipelines pass well inside every bound", async () => {
    for (const name of ["gentoo-bootstrap", "catalyst-release", "demo"]) {
      const path = join(repoRoot, "pipelines", name, "pipeline.yaml");
      const text = await readFile(path, "utf8");
      assert.doesNotThrow(() => parsePipeline(text, path), name);
      // They still pass at a quarter of each structural limit.
      const quarter = {
        maxBytes: YAML_BOUNDS.maxBytes / 4,
        maxDepth: YAML_BOUNDS.maxDepth / 4,
        maxMappingKeys: YAML_BOUNDS.maxMappingKeys / 4,
        maxKeys: YAML_BOUNDS.maxKeys / 4,
        maxExpandedNodes: YAML_BOUNDS.maxExpandedNodes / 8,
      };
      assert.equal(readYamlDocument(text, {}, quarter).t, "parsed", name);
    }
  });

  void test(
    "duplicate keys in a large mapping are found (linear check, not yaml's quadratic one)",
    SLOW,
    () => {
      let env = "env:\n";
      for (let i = 0; i < 9_000; i++) env += `  V${i}: x\n`;
      const text = `${env}  V5: y\nstages:\n  a: { runner: shell, script: make }\n`;
      assert.equal(onlyError(text), `${FILE}:${posOf(text, "V5: y")}: error: duplicate key "V5"`);
    },
  );
});
