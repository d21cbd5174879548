/**
 * `stagefarm up` (a real process, running as whoever runs the tests, root here) against what a
 * hostile client or page sends: a submission naming a server-side file reads nothing, a
 * cross-site form starts nothing, a rebound Host is refused, and hostile pipeline text (an
 * alias bomb, 40k keys) is refused while /healthz keeps answering and SIGTERM still ends it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliSandbox, type CliProcess } from "../helpers/cli.js";
import { aliasBomb, manyKeys } from "../helpers/hostile-pipelines.js";
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
    const keys = submit(base, { pipelineYaml: manyKeys(), pipelinePath: "keys.yaml" });
    keys.catch(() => undefined);
    await healthyMeanwhile(base);
    assert.equal(await up.stop("SIGTERM", 30_000), 143, up.describe());
  } finally {
    up.kill();
  }
});
