/**
 * `stagefarm up`'s `POST /api/v1/runs` is SubmitRun (the one implementation, over HTTP): the
 * `--repro` fields of a submission reach the run. The stage is built twice and compared, and the
 * run's record (the dashboard's GetRun over HTTP, and the v1 record) shows the check; a repro
 * stage the pipeline lacks is refused before anything starts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: up-repro
stages:
  fixed:
    runner: shell
    script: mkdir -p out && echo same > out/a.txt
    outputs: { o: out }
`;

interface RunJ {
  status?: string;
  stages?: Array<{ name: string; repro?: { state?: string } }>;
}

test("up: a submission over HTTP with reproStages builds the stage twice and records the verdict", async () => {
  await using sb = await CliSandbox.create();
  const up = sb.spawn(["up", "--http", "127.0.0.1:0", "--grpc", "off"]);
  try {
    const base = (await up.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const submit = (body: unknown): Promise<Response> =>
      fetch(`${base}/api/v1/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    const wrong = await submit({ pipelineYaml: PIPELINE, reproStages: ["nope"] });
    assert.equal(wrong.status, 400);
    assert.match(
      ((await wrong.json()) as { error: string }).error,
      /"nope" is not a stage of pipeline "up-repro"/,
    );

    const res = await submit({ pipelineYaml: PIPELINE, pipelinePath: "repro.yaml", reproStages: ["fixed"] });
    assert.equal(res.status, 202, await res.clone().text());
    const { id, run } = (await res.json()) as { id: string; run: { id: string } };
    assert.equal(run.id, id, "the answer is a SubmitRunResponse with the run's id on top");
    const done = await poll(
      async () => {
        const r = (await (await fetch(`${base}/api/dashboard/runs/${id}`)).json()) as { run: RunJ };
        return r.run.status === "RUN_STATUS_RUNNING" ? undefined : r.run;
      },
      { timeoutMs: 60_000, what: "the repro run to finish", intervalMs: 100 },
    );
    assert.equal(done.status, "RUN_STATUS_SUCCEEDED");
    assert.equal(done.stages?.find((s) => s.name === "fixed")?.repro?.state, "REPRO_STATE_REPRODUCIBLE");
    const v1 = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as { status: string };
    assert.equal(v1.status, "succeeded");
  } finally {
    up.kill();
  }
});
