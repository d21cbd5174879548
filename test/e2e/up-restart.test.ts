/**
 * `stagefarm up` keeps its runs across restarts on the same store, and the remote commands
 * (`submit`, `runs`, `run show`, `logs`, `cancel`, `retry`) work against its gRPC API as
 * against a coordinator: a run submitted over gRPC, up stopped with SIGTERM and started again
 * still lists with its stages and log; a run cancelled and retried; a run whose `up` was
 * SIGKILLed mid-stage shows as interrupted after the restart and a retry finishes it.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox, lastJsonLine, repoRoot, type CliProcess } from "../helpers/cli.js";
import type { RunSummary } from "../helpers/farm-process.js";
import { poll } from "../helpers/poll.js";

interface Up {
  proc: CliProcess;
  grpc: string;
  http: string;
}

async function startUp(sb: CliSandbox): Promise<Up> {
  const proc = sb.spawn(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]);
  try {
    const grpc = (await proc.waitForOutput(/gRPC API on (\S+)/, 20_000))[1] ?? "";
    const http = (await proc.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    return { proc, grpc, http };
  } catch (err: unknown) {
    proc.kill();
    throw err;
  }
}

/** A stage that prints a line, then waits for `gate` to exist (at most 2 minutes). */
const gated = (token: string): string => `pipeline: gated
params:
  gate: { default: "" }
stages:
  slow:
    runner: shell
    env: { GATE: "\${{ params.gate }}" }
    script: |
      echo "waiting ${token}"
      i=0
      while [ ! -e "$GATE" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
      mkdir -p out && echo ${token} > out/x
    outputs: { o: out }
`;

test(
  "up keeps its runs across restarts; remote commands work against its gRPC API",
  { timeout: 300_000 },
  async () => {
    await using sb = await CliSandbox.create();
    /** Runs a remote command against `up`; `code` undefined: any exit status (it says how a run ended). */
    const cli = async (up: Up, args: string[], code: number | undefined = 0): Promise<string> => {
      const r = await sb.run([...args, "--coordinator", up.grpc], { timeoutMs: 120_000 });
      if (code !== undefined) assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const show = async (up: Up, run: string): Promise<RunSummary> =>
      lastJsonLine(await cli(up, ["run", "show", run, "--json"], undefined)) as unknown as RunSummary;
    const stageState = (up: Up, run: string, stage: string, state: string): Promise<RunSummary> =>
      poll(
        async () => {
          const r = await sb.run(["run", "show", run, "--json", "--coordinator", up.grpc]);
          const s = r.stdout.trim() === "" ? undefined : (lastJsonLine(r.stdout) as unknown as RunSummary);
          return s?.results[stage]?.state === state ? s : undefined;
        },
        { timeoutMs: 60_000, what: `${run} ${stage} ${state}`, intervalMs: 200 },
      );

    let up = await startUp(sb);
    let demoRun: string;
    try {
      const demo = join(repoRoot, "pipelines/demo/pipeline.yaml");
      const sum = lastJsonLine(await cli(up, ["submit", demo, "--watch", "--json"])) as unknown as RunSummary;
      assert.equal(sum.status, "succeeded");
      demoRun = sum.run;
      assert.equal(await up.proc.stop("SIGTERM"), 143, up.proc.describe());
    } finally {
      up.proc.kill();
    }

    up = await startUp(sb);
    const gate = join(sb.dir, "gate");
    const pipeline = join(sb.dir, "gated.yaml");
    let killedRun: string;
    try {
      // The run of the first process, with its stages, outcomes and logs.
      const runs = JSON.parse(await cli(up, ["runs", "--json"])) as RunSummary[];
      assert.deepEqual(
        runs.map((r) => [r.run, r.status]),
        [[demoRun, "succeeded"]],
      );
      const shown = await show(up, demoRun);
      assert.equal(shown.status, "succeeded");
      assert.deepEqual(Object.keys(shown.results).sort(), [
        "build",
        "docs",
        "image",
        "rootfs",
        "sources",
        "test",
      ]);
      for (const s of Object.values(shown.results)) assert.equal(s.state, "done");
      const plain = await cli(up, ["logs", demoRun, "build"]);
      assert.match(plain, /^>>> stage build \(run /);
      // Every line with the time it was written; without the prefix, the log itself.
      const stamped = await cli(up, ["logs", demoRun, "build", "--timestamps"]);
      const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
      const lines = stamped.split("\n").slice(0, -1);
      assert.ok(lines.length > 3 && lines.every((l) => iso.test(l)), stamped);
      assert.equal(lines.map((l) => l.replace(iso, "")).join("\n") + "\n", plain);
      const times = lines.map((l) => Date.parse(l.slice(0, 24)));
      assert.ok(
        times.every((t, i) => i === 0 || t >= (times[i - 1] ?? 0)),
        "in order",
      );
      assert.ok(Math.abs((times[0] ?? 0) - Date.now()) < 10 * 60_000, "times of this test's run");
      // The dashboard's raw download: the plain log, as a file.
      const raw = await fetch(`${up.http}/api/dashboard/runs/${demoRun}/stages/build/log?download=1`);
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get("content-disposition"), `attachment; filename="${demoRun}-build-1.log"`);
      assert.equal(await raw.text(), plain);
      const index = (await (
        await fetch(`${up.http}/api/dashboard/runs/${demoRun}/stages/build/log/times`)
      ).json()) as { indexed: boolean; offsets: number[]; end: number };
      assert.equal(index.indexed, true);
      assert.equal(index.offsets[0], 0);
      assert.equal(index.end, Buffer.byteLength(plain));
      const http = (await (await fetch(`${up.http}/api/v1/runs/${demoRun}`)).json()) as { status: string };
      assert.equal(http.status, "succeeded", "the HTTP API lists it too");

      // cancel, then retry (after the gate opens), over gRPC.
      await writeFile(pipeline, gated("cancelled-then-retried"));
      const { run } = lastJsonLine(
        await cli(up, ["submit", pipeline, "--json", "--param", `gate=${gate}`]),
      ) as { run: string };
      await stageState(up, run, "slow", "running");
      const cancelled = lastJsonLine(
        await cli(up, ["cancel", run, "--json"], undefined),
      ) as unknown as RunSummary;
      assert.equal(cancelled.status, "cancelled");
      await writeFile(gate, "");
      await cli(up, ["retry", run, "slow"], undefined);
      const retried = await stageState(up, run, "slow", "done");
      assert.equal((await show(up, retried.run)).status, "succeeded");
      // Its agents (started for the runs it ran) are its own: listed, not drained.
      assert.match(await cli(up, ["agents"]), /local-1/);
      const drain = await sb.run(["drain", "local-1", "--coordinator", up.grpc]);
      assert.equal(drain.code, 2, drain.stderr);
      assert.match(drain.stderr, /they are not drained/);

      // A run whose up is killed while its stage runs.
      await writeFile(pipeline, gated("interrupted"));
      const gate2 = join(sb.dir, "gate2");
      killedRun = (
        lastJsonLine(await cli(up, ["submit", pipeline, "--json", "--param", `gate=${gate2}`])) as {
          run: string;
        }
      ).run;
      await stageState(up, killedRun, "slow", "running");
      await up.proc.stop("SIGKILL");
      await writeFile(gate2, ""); // the orphaned script ends
    } finally {
      up.proc.kill();
    }

    up = await startUp(sb);
    try {
      const after = await show(up, killedRun);
      assert.equal(after.status, "failed");
      assert.equal(after.results["slow"]?.state, "failed");
      assert.match(after.results["slow"]?.error ?? "", /interrupted: stagefarm up stopped/);
      await cli(up, ["retry", killedRun, "slow"], undefined);
      await stageState(up, killedRun, "slow", "done");
      const runs = JSON.parse(await cli(up, ["runs", "--json"])) as RunSummary[];
      assert.equal(runs.length, 3);
      assert.equal(await up.proc.stop("SIGTERM"), 143, up.proc.describe());
    } finally {
      up.proc.kill();
    }
    assert.ok((await readFile(join(sb.dir, "store", "state", "up-kv.jsonl"), "utf8")).length > 0);
  },
);
