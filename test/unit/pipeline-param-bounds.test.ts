import assert from "node:assert/strict";
import { test } from "node:test";
import { pipelineLabel } from "../../coordinator/testing.js";
import { parsePipeline } from "../../shared/pipeline/index.js";
import { MAX_PARAM_VALUE_BYTES, paramValues } from "../../shared/pipeline/testing.js";

const spec = () =>
  parsePipeline(
    `pipeline: p
params:
  big: { default: "x" }
stages:
  a:
    runner: shell
    env: { BIG: "\${{ params.big }}" }
    script: 'printf %s "$BIG" > out'
    outputs: { o: out }
`,
    "p/pipeline.yaml",
  );

test("a param value up to the limit is accepted", () => {
  const v = "é".repeat(MAX_PARAM_VALUE_BYTES / 2);
  assert.equal(paramValues(spec(), { big: v }).get("big"), v);
});

test("a param value over the limit is refused at submit, naming the param", () => {
  const v = "é".repeat(MAX_PARAM_VALUE_BYTES / 2 + 1);
  assert.throws(
    () => paramValues(spec(), { big: v }),
    (err: unknown) =>
      err instanceof Error &&
      /param "big" is 65538 bytes long; a param value may be at most 65536 bytes/.test(err.message),
  );
});

test("a submission's label always has a directory, so no pipeline is named after the server's cwd", () => {
  assert.equal(pipelineLabel("pipeline.yaml"), "pipeline/pipeline.yaml");
  assert.equal(pipelineLabel(""), "pipeline/pipeline.yaml");
  assert.equal(pipelineLabel("/etc/../shadow"), "etc/shadow");
  assert.equal(pipelineLabel("demo/pipeline.yaml"), "demo/pipeline.yaml");
  assert.equal(pipelineLabel("../../x.yaml"), "pipeline/x.yaml");
});
