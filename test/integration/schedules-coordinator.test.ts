/**
 * Schedules on the distributed Coordinator (in-process ports, a real agent and store): an
 * every-second schedule submits a --pipelines pipeline by name, its run's end reaches a local
 * webhook with the run's failed stage; the file is re-read when it changes on disk.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Registry } from "prom-client";
import { DEFAULT_SUBMISSION_LIMITS, NamedPipelines, newRunId } from "../../coordinator/index.js";
import { ScheduleService, submitLauncher } from "../../coordinator/schedules/index.js";
import { type RunSummary } from "../../coordinator/schedules/testing.js";
import { silentLogger } from "../../shared/log.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { poll } from "../helpers/poll.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

test("coordinator schedules: a run submitted by name, its end notified, the file watched", async () => {
  await using farm = await MemoryFarm.create();
  farm.addAgent("a1", [], 2);
  const received: RunSummary[] = [];
  const hook = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString()) as RunSummary);
      res.end();
    });
  });
  const { hostPort } = await listenHttp(hook, "127.0.0.1", 0, "the webhook server");
  try {
    const url = `http://${hostPort}/hook`;
    const dir = join(farm.dir, "pipelines");
    await mkdir(dir);
    await writeFile(
      join(dir, "breaks.yaml"),
      'pipeline: breaks\nparams:\n  code: { default: \'0\' }\nstages:\n  s:\n    runner: shell\n    env: { CODE: "${{ params.code }}" }\n    script: exit "$CODE"\n',
    );
    const pipelines = await NamedPipelines.open(dir, DEFAULT_SUBMISSION_LIMITS.maxBytes);
    const file = join(farm.dir, "schedules.yaml");
    const entry = (cron: string) =>
      `webhook: ${url}\nschedules:\n  - { name: nightly, cron: "${cron}", pipeline: breaks, params: { code: 3 } }\n`;
    await writeFile(file, entry("* * * * * *"));
    const registry = new Registry();
    await using svc = await ScheduleService.open({
      file,
      runs: farm.coordinator,
      launch: submitLauncher(farm.coordinator, pipelines),
      checkPipeline: (name) => pipelines.read(name),
      newRunId: () => newRunId(),
      logger: silentLogger(),
      registry,
      dashboardUrl: "http://farm.example:9464",
    });
    const first = await poll(() => received[0], {
      timeoutMs: 20_000,
      what: "the webhook of a scheduled run",
    });
    assert.equal(first.pipeline, "breaks");
    assert.equal(first.status, "failed");
    assert.equal(first.schedule, "nightly");
    assert.deepEqual(first.failedStages, ["s"]);
    assert.deepEqual(first.params, { code: "3" });
    assert.equal((await farm.coordinator.getRun(first.runId)).status, "failed", "a run of the coordinator's");

    // The file changes on disk (a rename, as editors write): a refused one keeps the schedule…
    await writeFile(`${file}.new`, entry("* * * * * * * *"));
    await import("node:fs/promises").then((fs) => fs.rename(`${file}.new`, file));
    const refused = async () =>
      (await registry.getMetricsAsJSON())
        .find((m) => m.name === "stagefarm_schedule_reloads_total")
        ?.values.find((v) => v.labels.result === "refused")?.value ?? 0;
    await poll(async () => (await refused()) >= 1, { timeoutMs: 10_000, what: "the watched file refused" });
    assert.ok(svc.nextTimes().nightly !== null);
    // …and a good one is put in force.
    await writeFile(file, entry("0 3 * * 0"));
    await poll(() => svc.nextTimes().nightly?.endsWith("T03:00:00.000Z") === true, {
      timeoutMs: 10_000,
      what: "the watched file applied",
    });
    await svc.notificationsIdle();
  } finally {
    for (const id of farm.coordinator.activeRunIds()) await farm.coordinator.settled(id);
    await closeHttp(hook);
  }
});
