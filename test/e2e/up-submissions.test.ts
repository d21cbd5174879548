/**
 * `stagefarm up` (a real process, running as whoever runs the tests, root here) against what a
 * hostile client or page sends: a submission naming a server-side file reads nothing, a
 * cross-site form starts nothing, a rebound Host is refused, and hostile pipeline text (an
 * alias bomb, 40k keys) is refused while /healthz keeps answering and SIGTERM still ends it.
 * With --pipelines a client picks one of a directory's pipelines by name, and nothing else.
 */
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox, type CliProcess } from "../helpers/cli.js";
import { aliasBomb, manyKeys } from "../helpers/hostile-pipelines.js";
import { poll } from "../helpers/poll.js";
import { rawRequest } from "../helpers/raw-http.js";

async function upAt(sb: CliSandbox, extra: string[] = []): Promise<{ up: CliProcess; base: string }> {
  const up = sb.spawn(["up", "--http", "127.0.0.1:0", ...extra]);
  const base = (await up.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
  return { up, base };
}

const submit = (base: string, body: unknown, timeoutMs = 60_000): Promise<Response> =>
  fetch(`${base}/api/v1/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });

/**
 * /healthz answers within 5 s of a hostile submission: a parse on the event loop would hold it
 * for minutes. (A parser with its own bounds may also refuse the submission first.)
 */
async function healthyMeanwhile(base: string): Promise<void> {
  const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200);
}

test("up: clients name no server file, cross-site forms and rebound hosts are refused", async () => {
  await using sb = await CliSandbox.create();
  const { up, base } = await upAt(sb, ["--http-host-name", "farm.example"]);
  try {
    const named = await submit(base, { pipeline: "/etc/shadow" });
    assert.equal(named.status, 400);
    const { error } = (await named.json()) as { error: string };
    assert.match(error, /send the pipeline's text as "pipelineYaml"/);
    assert.doesNotMatch(error, /root:/);

    const labelled = await submit(base, { pipelineYaml: "nope: 1\n", pipelinePath: "/etc/shadow" });
    assert.equal(labelled.status, 400);
    const bad = (await labelled.json()) as { error: string; code: string };
    assert.equal(bad.code, "invalid_pipeline");
    assert.match(bad.error, /^etc\/shadow:1:1: error: /m);
    assert.doesNotMatch(bad.error, /root:/);

    // A cross-site <form enctype="text/plain"> whose body happens to be JSON.
    const form = await fetch(`${base}/api/v1/runs`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ pipelineYaml: "stages:\n  s:\n    runner: shell\n    script: id\n" }),
    });
    assert.equal(form.status, 400);
    assert.deepEqual(((await (await fetch(`${base}/api/v1/runs`)).json()) as { runs: unknown[] }).runs, []);

    const port = Number(new URL(base).port);
    assert.equal(
      (await rawRequest(port, { path: "/api/v1/runs", headers: { host: "farm.example" } })).status,
      200,
    );
    const rebound = await rawRequest(port, {
      path: "/api/v1/runs",
      headers: { host: `evil.example:${port}` },
    });
    assert.equal(rebound.status, 400);
    assert.match(rebound.body, /not a name of this server/);
  } finally {
    up.kill();
  }
});

test("up --pipelines: a client picks a pipeline of the directory by name, never a path", async () => {
  await using sb = await CliSandbox.create();
  const dir = join(sb.dir, "offered");
  await mkdir(join(dir, "tiny"), { recursive: true });
  await writeFile(
    join(dir, "tiny/pipeline.yaml"),
    "pipeline: tiny\nstages:\n  s:\n    runner: shell\n    script: mkdir -p out && echo hi > out/a\n    outputs: { o: out }\n",
  );
  await symlink("/etc/shadow", join(dir, "escape.yaml"));
  await mkdir(join(dir, "empty"));
  const { up, base } = await upAt(sb, ["--pipelines", dir]);
  try {
    const res = await submit(base, { pipelineName: "tiny" });
    assert.equal(res.status, 202, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    const status = await poll(
      async () => {
        const r = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as { status: string };
        return r.status === "running" ? undefined : r.status;
      },
      { timeoutMs: 60_000, what: "the named pipeline's run to finish", intervalMs: 100 },
    );
    assert.equal(status, "succeeded");
    for (const [name, code] of [
      ["escape", 404],
      ["empty", 404],
      ["nope", 404],
      ["../offered/tiny", 400],
      ["/etc/shadow", 400],
      ["..", 400],
    ] as const) {
      const r = await submit(base, { pipelineName: name });
      const { error } = (await r.json()) as { error: string };
      assert.equal(r.status, code, `${name}: ${error}`);
      assert.doesNotMatch(error, /root:/);
      assert.ok(!error.includes(sb.dir), `the server's directory stays unnamed: ${error}`);
    }
    const both = await submit(base, { pipelineName: "tiny", pipelineYaml: "stages: {}\n" });
    assert.equal(both.status, 400);
  } finally {
    up.kill();
  }
});

test("up: an alias bomb is refused while /healthz answers; SIGTERM ends it during a slow parse", async () => {
  await using sb = await CliSandbox.create();
  const { up, base } = await upAt(sb);
  try {
    const bomb = submit(base, { pipelineYaml: aliasBomb(), pipelinePath: "bomb.yaml" });
    await healthyMeanwhile(base);
    const res = await bomb;
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, "invalid_pipeline");

    // 40k keys (about 400 KB): a parse of tens of seconds in the event loop.
    // Without --pipelines there is nothing to pick by name.
    const unnamed = await submit(base, { pipelineName: "demo" });
    assert.equal(unnamed.status, 400);
    assert.match(((await unnamed.json()) as { error: string }).error, /offers no pipelines by name/);

    const keys = submit(base, { pipelineYaml: manyKeys(), pipelinePath: "keys.yaml" });
    keys.catch(() => undefined);
    await healthyMeanwhile(base);
    assert.equal(await up.stop("SIGTERM", 30_000), 143, up.describe());
  } finally {
    up.kill();
  }
});
