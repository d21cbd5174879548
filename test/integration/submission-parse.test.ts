/**
 * Parsing submitted pipelines in a worker thread (coordinator/submission/): the spec comes back
 * equal to an in-thread parse, invalid pipelines keep their issues, and hostile documents (an
 * alias bomb, 40k keys, too many bytes) are refused while the event loop keeps running; the
 * queue is bounded and close() ends running parses at once.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SubmissionParser } from "../../coordinator/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, PipelineError } from "../../shared/pipeline/index.js";
import { repoRoot } from "../helpers/cli.js";
import { poll } from "../helpers/poll.js";
import { aliasBomb, manyKeys } from "../helpers/hostile-pipelines.js";

async function refusal(p: Promise<unknown>): Promise<StagefarmError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, `a StagefarmError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the parse to be refused");
}

/**
 * The refusal of `work`, and how many 20 ms timer ticks ran before it came: a parse on the
 * event loop would let none run.
 */
async function refusedWhileTicking(work: Promise<unknown>): Promise<{ err: StagefarmError; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  try {
    return { err: await refusal(work), ticks };
  } finally {
    clearInterval(timer);
  }
}

describe("SubmissionParser", () => {
  test("the shipped pipelines come back from the worker equal to an in-thread parse", async () => {
    const parser = new SubmissionParser();
    try {
      for (const name of ["demo", "gentoo-bootstrap", "catalyst-release"]) {
        const file = `pipelines/${name}/pipeline.yaml`;
        const yaml = await readFile(join(repoRoot, file), "utf8");
        assert.deepStrictEqual(await parser.parse(yaml, file), parsePipeline(yaml, file), name);
      }
    } finally {
      await parser.close();
    }
  });

  test("an invalid pipeline is a PipelineError with its issues and positions", async () => {
    const parser = new SubmissionParser();
    try {
      const yaml = "stages:\n  a:\n    runner: nope\n";
      const err = await refusal(parser.parse(yaml, "bad.yaml"));
      assert.ok(err instanceof PipelineError);
      let local: unknown;
      try {
        parsePipeline(yaml, "bad.yaml");
      } catch (e: unknown) {
        local = e;
      }
      assert.ok(local instanceof PipelineError);
      assert.deepStrictEqual(err.issues, local.issues);
      assert.equal(err.code, "invalid_pipeline");
    } finally {
      await parser.close();
    }
  });

  test("an alias bomb is refused, and timers keep firing while it is parsed", async () => {
    const parser = new SubmissionParser({ timeoutMs: 3000 });
    try {
      const { err, ticks } = await refusedWhileTicking(parser.parse(aliasBomb(), "bomb.yaml"));
      assert.equal(err.code, "invalid_pipeline");
      assert.ok(ticks > 3, `the event loop ran meanwhile (${ticks} ticks)`);
      // The worker that overran was replaced: the next submission parses.
      const ok = "stages:\n  a:\n    runner: shell\n    script: echo\n";
      assert.equal((await parser.parse(ok, "ok.yaml")).stages[0]?.name, "a");
    } finally {
      await parser.close();
    }
  });

  test("40k keys are refused within the deadline; a document over the size cap without parsing", async () => {
    const parser = new SubmissionParser({ timeoutMs: 2000, maxBytes: 1 << 20 });
    try {
      const { err, ticks } = await refusedWhileTicking(parser.parse(manyKeys(), "keys.yaml"));
      assert.equal(err.code, "invalid_pipeline");
      assert.ok(ticks > 3, `the event loop ran meanwhile (${ticks} ticks)`);
      const big = await refusal(parser.parse(`# ${"x".repeat(2 << 20)}\nstages: {}\n`, "big.yaml"));
      assert.equal(big.code, "invalid_pipeline");
      assert.match(big.message, /the pipeline is 2 MiB; the largest accepted is 1 MiB/);
    } finally {
      await parser.close();
    }
  });

  test("a parse past the deadline says so", async () => {
    const parser = new SubmissionParser({ timeoutMs: 500 });
    try {
      const err = await refusal(parser.parse(manyKeys(), "keys.yaml"));
      assert.equal(err.code, "invalid_pipeline");
      // A parser with its own bounds may refuse it sooner, for what it is.
      assert.match(err.message, /took longer than 0\.5 s to parse; refused|keys|too many|limit/i);
    } finally {
      await parser.close();
    }
  });

  test("parses beyond the queue are unavailable; close() ends running and waiting ones at once", async () => {
    const parser = new SubmissionParser({ concurrency: 1, maxWaiting: 1, timeoutMs: 600_000 });
    const running = refusal(parser.parse(manyKeys(), "one.yaml"));
    const waiting = refusal(parser.parse(manyKeys(), "two.yaml"));
    const busy = await refusal(parser.parse("stages: {}\n", "three.yaml"));
    assert.equal(busy.code, "unavailable");
    assert.match(busy.message, /too many submissions/);
    await poll(() => parser.parsing === 1, { timeoutMs: 10_000, what: "the first parse to run" });
    // Neither waits for its 10-minute deadline.
    await parser.close();
    for (const p of [running, waiting]) {
      const err = await p;
      // Unless a bounded parser refused it first, it was stopped by close().
      assert.ok(err.code === "unavailable" || err.code === "invalid_pipeline", err.message);
    }
    assert.equal((await refusal(parser.parse("stages: {}\n", "late.yaml"))).code, "unavailable");
  });
});
