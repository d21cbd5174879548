/** Helpers of the pipeline parser tests: issue lines, positions of markers, one-error assertions. */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PipelineError, parsePipeline } from "../../shared/pipeline/index.js";
import { formatIssue, MAX_REPORTED_ISSUES } from "../../shared/pipeline/testing.js";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/pipelines");
export const FILE = "pipelines/demo/pipeline.yaml";
export const SHA_A = "a".repeat(64);

/** The formatted issue lines of a pipeline text that must fail to parse. */
export function errorsOf(text: string): string[] {
  try {
    parsePipeline(text, FILE);
  } catch (err: unknown) {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${String(err)}`);
    assert.equal(err.code, "invalid_pipeline");
    const lines = err.message.split("\n");
    const shown = err.issues.slice(0, MAX_REPORTED_ISSUES).map(formatIssue);
    assert.deepEqual(lines.slice(0, shown.length), shown);
    assert.equal(lines.length, shown.length + (err.issues.length > shown.length ? 1 : 0));
    return lines;
  }
  assert.fail("expected the pipeline to be rejected");
}

/** 1-based line:col of the `nth` occurrence of `marker` in `text`. */
export function posOf(text: string, marker: string, nth = 0): string {
  let index = -1;
  for (let i = 0; i <= nth; i++) index = text.indexOf(marker, index + 1);
  assert.ok(index >= 0, `marker "${marker}" not in the text`);
  const before = text.slice(0, index).split("\n");
  return `${before.length}:${(before.at(-1) ?? "").length + 1}`;
}

/** Asserts exactly one issue, at the position of `marker`, whose message contains every fragment. */
export function assertOneError(
  text: string,
  marker: string | [string, number],
  ...fragments: string[]
): string {
  const lines = errorsOf(text);
  assert.equal(lines.length, 1, `expected one issue, got:\n${lines.join("\n")}`);
  const [only = ""] = lines;
  const [m, nth] = typeof marker === "string" ? [marker, 0] : marker;
  assert.ok(only.startsWith(`${FILE}:${posOf(text, m, nth)}: error: `), `wrong position: ${only}`);
  for (const f of fragments) assert.ok(only.includes(f), `"${f}" missing from: ${only}`);
  return only;
}

export const SHELL = (extra = "") => `stages:\n  build:\n    runner: shell\n    script: make\n${extra}`;
