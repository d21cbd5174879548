/**
 * `stagefarm up --schedules`: a schedule on a fast cron (every second) starts runs of a
 * --pipelines pipeline; their end is POSTed to a local webhook with the run's summary; a
 * webhook that fails is retried and fails nothing else; a bad file on SIGHUP is refused and the
 * schedule keeps firing.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { RunSummary } from "../../coordinator/schedules/testing.js";
import { CliSandbox } from "../helpers/cli.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";
import { poll } from "../helpers/poll.js";

test("up --schedules: a fast cron starts runs and their end reaches the webhook", async () => {
  await using sb = await CliSandbox.create();
  const received: RunSummary[] = [];
  const hook = createServer((req: IncomingMessage, res: ServerResponse) => {
    // The global webhook: down (503), so retried, logged, harmless.
    if (req.url === "/down") return void req.resume().on("end", () => res.writeHead(503).end());
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString()) as RunSummary);
      res.end();
    });
  });
  const { hostPort } = await listenHttp(hook, "127.0.0.1", 0, "the webhook server");
  const hookUrl = `http://${hostPort}/hook`;
  const pipelines = join(sb.dir, "pipelines");
  await mkdir(pipelines);
  await writeFile(
    join(pipelines, "tiny.yaml"),
    "pipeline: tiny\nstages:\n  s:\n    runner: shell\n    script: mkdir -p out && echo hi > out/a\n    outputs: { o: out }\n",
  );
  const file = join(sb.dir, "schedules.yaml");
  await writeFile(
    file,
    `webhook: http://${hostPort}/down\n` +
      `schedules:\n  - { name: every-second, cron: "* * * * * *", pipeline: tiny, webhook: "${hookUrl}" }\n`,
  );
  const up = sb.spawn(["up", "--http", "127.0.0.1:0", "--pipelines", pipelines, "--schedules", file]);
  try {
    const base = (await up.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const first = await poll(() => received[0], { timeoutMs: 30_000, what: "the first webhook" });
    assert.equal(first.event, "run-finished");
    assert.equal(first.pipeline, "tiny");
    assert.equal(first.status, "succeeded");
    assert.equal(first.schedule, "every-second");
    assert.deepEqual(first.failedStages, []);
    assert.equal(first.dashboardUrl, `${base.replace(/\/$/, "")}/ui/#/runs/${first.runId}`);
    assert.ok(Date.parse(first.startedAt) <= Date.parse(first.finishedAt));
    const run = (await (await fetch(`${base}/api/v1/runs/${first.runId}`)).json()) as { status: string };
    assert.equal(run.status, "succeeded", "the failing global webhook does not touch the run");
    await up.waitForOutput(/webhook failed; retrying/, 10_000, "stderr");

    await writeFile(file, `schedules:\n  - { name: every-second, cron: "99 * * * *", pipeline: tiny }\n`);
    up.kill("SIGHUP");
    await up.waitForOutput(/schedule file refused/, 10_000, "stderr");
    assert.match(up.stderr, /schedules\.yaml:2:\d+: cron/);
    const seen = received.length;
    await poll(() => received.length > seen, { timeoutMs: 30_000, what: "a run after the refused reload" });

    assert.equal(await up.stop("SIGTERM"), 143);
  } finally {
    up.kill();
    await closeHttp(hook);
  }
});
