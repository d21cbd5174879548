/**
 * `stagefarm logs RUN STAGE` of a running stage on a farm (processes): without -f it prints
 * what exists so far from the first line (the stored log appears only when the attempt ends);
 * with -f it starts from the beginning and follows to the end; `--bytes` and `--tail` (lines)
 * start near the end, of the held log while it runs and of the stored one after; `--timestamps`
 * prefixes each line with when it was written (received, while it runs).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { withFarm } from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: logs-running
params:
  gate: { default: "" }
stages:
  slow:
    runner: shell
    env: { GATE: "\${{ params.gate }}" }
    script: |
      echo "first line of the log"
      echo "second line"
      i=0
      while [ ! -e "$GATE" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
      echo "last line"
      mkdir -p out && echo x > out/x
    outputs: { o: out }
`;

test("logs of a running stage start at its first line", { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-logs-run-"));
  const gate = join(dir, "gate");
  try {
    await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
      const file = await farm.writePipeline("logs-running.yaml", PIPELINE);
      const { run } = await farm.cliJson<{ run: string }>([
        "submit",
        file,
        "--json",
        "--param",
        `gate=${gate}`,
      ]);
      await farm.runningStage(run, ["slow"]);
      const sofar = await poll(
        async () => {
          const r = await farm.cli(["logs", run, "slow"]);
          return r.code === 0 && r.stdout.includes("second line") ? r : undefined;
        },
        { timeoutMs: 60_000, what: "the running stage's log so far", intervalMs: 100 },
      );
      // From its first byte: the runner's header, then the script's first line.
      assert.match(sofar.stdout, /^>>> stage slow \(run [^\n]*\n[^]*first line of the log\nsecond line\n$/);
      assert.doesNotMatch(sofar.stdout, /last line/);
      const tail = await farm.cli(["logs", run, "slow", "--bytes", "12"]);
      assert.equal(tail.stdout, "second line\n", tail.stderr);
      const lastLine = await farm.cli(["logs", run, "slow", "--tail", "1"]);
      assert.equal(lastLine.stdout, "second line\n", lastLine.stderr);
      // With the times the coordinator received the lines (the log is not stored yet).
      const stamped = await farm.cli(["logs", run, "slow", "--timestamps"]);
      assert.equal(stamped.code, 0, stamped.stderr);
      assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z >>> stage slow /);
      assert.match(stamped.stdout, /\n\d{4}-\d\d-\d\dT[\d:.]{12}Z second line\n$/);
      const follow = farm.spawnCli(["logs", run, "slow", "-f"]);
      await poll(() => Promise.resolve(follow.stdout.includes("second line") ? true : undefined), {
        timeoutMs: 30_000,
        what: "-f output",
        intervalMs: 100,
      });
      await writeFile(gate, "");
      const { code } = await follow.ended(60_000);
      assert.equal(code, 0, follow.stdout);
      assert.match(
        follow.stdout,
        /^>>> stage slow \(run [^]*first line of the log\nsecond line\nlast line\n/,
      );
      // Once stored, --tail counts lines back from the stored log's end.
      const stored = await poll(
        async () => {
          const r = await farm.cli(["logs", run, "slow", "--tail", "50"]);
          return r.code === 0 && /last line/.test(r.stdout) ? r : undefined;
        },
        { timeoutMs: 30_000, what: "the stored log", intervalMs: 100 },
      );
      assert.match(stored.stdout, /first line of the log\nsecond line\nlast line\n/);
      // Stored: the agent's times, in order, every line stamped.
      const times = await farm.cli(["logs", run, "slow", "-t"]);
      const lines = times.stdout.split("\n").slice(0, -1);
      assert.ok(
        lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]{12}Z /.test(l)),
        times.stdout,
      );
      const ms = lines.map((l) => Date.parse(l.slice(0, 24)));
      assert.ok(
        ms.every((t, i) => i === 0 || t >= (ms[i - 1] ?? 0)),
        times.stdout,
      );
      const two = await farm.cli(["logs", run, "slow", "-n", "2"]);
      assert.equal(two.code, 0, two.stderr);
      assert.equal(two.stdout.split("\n").length, 3, two.stdout);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
