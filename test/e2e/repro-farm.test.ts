/**
 * `--repro` on a loopback farm of processes (nats-server, s3rver, coordinator, agents): a stage
 * is built a second time on another agent than the first. With one agent the second build waits
 * (a visible reason, the run is not failed); a second agent takes it. A deterministic stage is
 * reproducible; one that writes the time into a file differs, naming that file; the verdicts are
 * in `run show --json`, the dashboard's API and the metric, and survive a coordinator restart.
 * A name that is not a stage is refused at submit.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { withFarm, type RunSummary } from "../helpers/farm-processes.js";
import type { ReproDoc } from "../../coordinator/index.js";
import { poll } from "../helpers/poll.js";

const pipeline = `pipeline: repro-e2e
stages:
  fixed:
    runner: shell
    script: |
      mkdir -p out/etc
      echo stable > out/etc/fixed.conf
    outputs:
      root: { path: out, kind: tree }
  clock:
    runner: shell
    inputs:
      base: { from: fixed.root }
    script: |
      mkdir -p out/etc
      cp inputs/base/etc/fixed.conf out/etc/
      date +%s%N > out/etc/built-at
    outputs:
      root: { path: out, kind: tree }
`;

type Shown = RunSummary & {
  results: Record<
    string,
    { repro?: ReproDoc & { reason?: string }; attempts?: Array<{ number: number; agent?: string }> }
  >;
};

describe("reproducibility runs on a farm", () => {
  test("the second build runs on another agent; verdicts reproducible and differs (naming the file)", async () => {
    await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
      const file = await farm.writePipeline("repro.yaml", pipeline);

      const refused = await farm.cli(["submit", file, "--repro", "fixed,nope"]);
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        /--repro: "nope" is not a stage of pipeline "repro-e2e" \(its stages: fixed, clock\)/,
      );

      const submitted = await farm.cliJson<{ run: string }>([
        "submit",
        file,
        "--repro",
        "fixed,clock",
        "--json",
      ]);
      const show = (): Promise<Shown> => farm.cliJson<Shown>(["run", "show", submitted.run, "--json"]);

      // One agent: both stages build on a1; their second builds wait for another agent.
      const waiting = await poll(
        async () => {
          const r = await show();
          const f = r.results["fixed"]?.repro;
          return f?.state === "building" && f.reason !== undefined ? { r, f } : undefined;
        },
        { timeoutMs: 30_000, what: "the second build of fixed to wait for another agent", intervalMs: 100 },
      );
      assert.equal(waiting.r.status, "running", "a waiting second build does not fail the run");
      assert.match(waiting.f.reason ?? "", /other than a1/);

      await farm.startAgent("a2");
      const done = await poll(
        async () => {
          const r = await show();
          return r.status === "running" ? undefined : r;
        },
        { timeoutMs: 60_000, what: "the run to finish", intervalMs: 100 },
      );
      assert.equal(done.status, "succeeded", "a stage that is not reproducible does not fail the run");

      for (const stage of ["fixed", "clock"]) {
        const v = done.results[stage]?.repro;
        assert.equal(v?.first.agent, "a1", `${stage}: first build on a1`);
        assert.equal(v.second?.agent, "a2", `${stage}: second build on a2`);
        assert.deepEqual(
          done.results[stage]?.attempts?.map((a) => [a.number, a.agent]),
          [[1, "a1"]],
          `${stage}: its own attempt ran on a1; the second build is the verdict's`,
        );
      }
      const fixed = done.results["fixed"]?.repro;
      assert.equal(fixed?.state, "reproducible");
      assert.equal(fixed.outputs?.[0]?.identical, true);
      const clock = done.results["clock"]?.repro;
      assert.equal(clock?.state, "differs");
      const out = clock.outputs?.[0];
      assert.equal(out?.identical, false);
      assert.deepEqual(
        out.packages.map((p) => [p.key, p.differing, p.paths]),
        [[undefined, 1, ["~ etc/built-at"]]],
      );
      assert.deepEqual(out.packages[0]?.what, ["content"]);

      const human = await farm.cli(["run", "show", submitted.run]);
      assert.match(
        human.stdout,
        /repro: not reproducible \(first: attempt 1 on a1; second: attempt 2 on a2\)/,
      );
      assert.match(human.stdout, /~ etc\/built-at/);
      assert.equal(await farm.metric("stagefarm_repro_checks_total"), 2);

      // The dashboard's stage panel reads the same verdict.
      const dash = (await (await fetch(`${farm.httpUrl}/api/dashboard/runs/${submitted.run}`)).json()) as {
        run?: {
          stages?: Array<{
            name: string;
            repro?: { state?: string; outputs?: Array<{ packages?: Array<{ paths?: string[] }> }> };
          }>;
        };
      };
      const panel = dash.run?.stages?.find((st) => st.name === "clock")?.repro;
      assert.equal(panel?.state, "REPRO_STATE_DIFFERS");
      assert.deepEqual(panel.outputs?.[0]?.packages?.[0]?.paths, ["~ etc/built-at"]);

      const runs = await farm.cli(["runs"]);
      assert.match(runs.stdout, new RegExp(`${submitted.run} .* repro: 1 reproducible, 1 differs`));

      // The verdicts live in the run's document in KV: a restarted coordinator shows them.
      await farm.killCoordinator();
      await farm.startCoordinator();
      const after = await show();
      assert.deepEqual(after.results["clock"]?.repro, clock);
      assert.deepEqual(after.results["fixed"]?.repro, fixed);
    });
  });
});
