/**
 * `stagefarm up --keep-failed-workspaces`: a stage that failed while a sibling branch still runs
 * is retried from the dashboard's API (the same coordinator method as `stagefarm retry` and the
 * gRPC RetryStage); it and the stage it blocked run, and the run succeeds. The failed attempt's
 * workspace was kept, named in the stage's error.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";
import { poll } from "../helpers/poll.js";

interface StageJson {
  name: string;
  state?: string;
  error?: string;
  attempt?: number;
}
interface RunJson {
  status?: string;
  stages?: StageJson[];
}

test("up: a failed stage retried from the dashboard while a sibling runs; its workspace was kept", async () => {
  await using sb = await CliSandbox.create();
  const fixed = join(sb.dir, "fixed");
  const release = join(sb.dir, "release");
  const yaml = `pipeline: branches
stages:
  bad:
    runner: shell
    script: |
      echo evidence > left-here
      test -f ${fixed}
      mkdir -p out && echo ok > out/x
    outputs: { x: out/x }
  after:
    runner: shell
    inputs: { x: { from: bad.x, unpack: false } }
    script: mkdir -p out && cp inputs/x out/y
    outputs: { y: out/y }
  slow:
    runner: shell
    script: while [ ! -f ${release} ]; do sleep 0.05; done
`;
  const child = sb.spawn(["up", "--http", "127.0.0.1:0", "--keep-failed-workspaces"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const api = `${base}/api/dashboard`;
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${api}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: base },
        body: JSON.stringify(body),
      });
    const res = await post("/runs", { pipelineYaml: yaml, pipelinePath: "branches.yaml" });
    assert.equal(res.status, 202);
    const id = ((await res.json()) as { run: { id: string } }).run.id;
    const getRun = async (): Promise<RunJson> =>
      ((await (await fetch(`${api}/runs/${id}`)).json()) as { run: RunJson }).run;
    const stage = (r: RunJson, name: string) => r.stages?.find((s) => s.name === name);
    const failed = await poll(
      async () => {
        const r = await getRun();
        return stage(r, "after")?.state === "STAGE_STATE_SKIPPED" ? r : undefined;
      },
      { timeoutMs: 60_000, what: "bad to fail and after to be skipped", intervalMs: 100 },
    );
    assert.equal(failed.status, "RUN_STATUS_RUNNING", "slow still runs");
    const error = stage(failed, "bad")?.error ?? "";
    const kept = /\(workspace kept at (\S+)\)$/.exec(error)?.[1];
    assert.ok(kept !== undefined, error);
    assert.equal(await readFile(join(kept, "left-here"), "utf8"), "evidence\n");

    await writeFile(fixed, "");
    assert.equal((await post(`/runs/${id}/stages/bad/retry`, {})).status, 200);
    await poll(
      async () => (stage(await getRun(), "after")?.state === "STAGE_STATE_DONE" ? true : undefined),
      {
        timeoutMs: 60_000,
        what: "after to run after the retry",
        intervalMs: 100,
      },
    );
    await writeFile(release, "");
    const done = await poll(
      async () => {
        const r = await getRun();
        return r.status === "RUN_STATUS_RUNNING" ? undefined : r;
      },
      { timeoutMs: 60_000, what: "the run to finish", intervalMs: 100 },
    );
    assert.equal(done.status, "RUN_STATUS_SUCCEEDED");
    assert.equal(stage(done, "bad")?.attempt, 2);
  } finally {
    child.kill();
  }
});
