/**
 * Schedules and notifications without a farm: the schedule file's refusals name FILE:line:col;
 * the notifier POSTs the run summary to a local HTTP server, retries a failing webhook with
 * backoff and counts the failure, runs a command with the JSON on stdin; the schedule service
 * routes run ends to the right targets and keeps its schedules when a reload is refused.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import type { RunEvent, RunDoc } from "../../coordinator/index.js";
import { ScheduleService } from "../../coordinator/schedules/index.js";
import {
  COMMAND_ENV_KEYS,
  Notifier,
  parseScheduleFile,
  runSummary,
  type RunSummary,
} from "../../coordinator/schedules/testing.js";
import { silentLogger } from "../../shared/log.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { poll } from "../helpers/poll.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

/** A webhook receiver answering with the given statuses in turn (the last repeats). */
async function receiver(statuses: number[]) {
  const bodies: unknown[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push({
        method: req.method,
        type: req.headers["content-type"],
        body: JSON.parse(Buffer.concat(chunks).toString()) as unknown,
      });
      res.statusCode = statuses[Math.min(bodies.length - 1, statuses.length - 1)] ?? 200;
      res.end();
    });
  });
  const { hostPort } = await listenHttp(server, "127.0.0.1", 0, "the webhook server");
  return {
    url: `http://${hostPort}/hook?token=abc`,
    bodies,
    [Symbol.asyncDispose]: () => closeHttp(server),
  };
}

function doc(id: string, over: Partial<RunDoc> = {}): RunDoc {
  return {
    v: 1,
    id,
    pipeline: "release",
    path: "release.yaml",
    yaml: "",
    params: { arch: "amd64" },
    status: "failed",
    createdAt: Date.parse("2026-12-06T03:00:00Z"),
    finishedAt: Date.parse("2026-12-06T07:30:00Z"),
    stages: { seed: { state: "cached" }, stage1: { state: "failed" }, stage3: { state: "skipped" } },
    ...over,
  };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe("schedule file", () => {
  test("refusals name FILE:line:col", () => {
    const refused = (yaml: string): string => {
      try {
        parseScheduleFile(yaml, "s.yaml");
      } catch (err: unknown) {
        return err instanceof Error ? err.message : String(err);
      }
      assert.fail(`accepted:\n${yaml}`);
    };
    const head = "schedules:\n  - name: a\n    pipeline: demo\n";
    assert.match(
      refused(`${head}    cron: "61 * * * *"\n`),
      /^s\.yaml:4:11: cron "61 \* \* \* \*": .*minute/,
    );
    assert.match(refused(`${head}    cron: "* * *"\n`), /^s\.yaml:4:11: .*3 fields/);
    assert.match(refused(`${head}    cron: "0 0 30 2 *"\n`), /^s\.yaml:4:11: cron "0 0 30 2 \*" never fires/);
    assert.match(
      refused(`${head}    cron: "@daily"\n    timezone: Mars/Olympus\n`),
      /^s\.yaml:5:15: not a time zone/,
    );
    assert.match(refused(`${head}    cron: "@daily"\n    overlap: sometimes\n`), /^s\.yaml:5:14: .*"skip"/);
    assert.match(refused(`${head}    cron: "@daily"\n    pipline: x\n`), /^s\.yaml:2:5: .*pipline/);
    assert.match(
      refused(`schedules:\n  - name: a\n    cron: "@daily"\n    pipeline: ../etc/x\n`),
      /^s\.yaml:4:15: a pipeline name, not a path/,
    );
    const secret = refused(`webhook: https://bob:hunter2@hooks.example/x\n`);
    assert.match(
      secret,
      /^s\.yaml:1:10: webhook https:\/\/\*\*\*@hooks\.example\/x carries a user name or password/,
    );
    assert.doesNotMatch(secret, /hunter2/);
    assert.match(refused(`webhook: file:///etc/passwd\n`), /^s\.yaml:1:10: .*must be http or https/);
    assert.match(refused(`command: "mail -s done"\n`), /^s\.yaml:1:10: .*array/);
    assert.match(
      refused(`${head}    cron: "@daily"\n  - name: a\n    pipeline: demo\n    cron: "@daily"\n`),
      /^s\.yaml:5:11: a second schedule a/,
    );
    assert.match(refused(`schedules: [\n`), /^s\.yaml:\d+:\d+: not valid YAML/);
  });

  test("defaults: UTC, overlap skip, notify scheduled; params become strings", () => {
    const f = parseScheduleFile(
      `schedules:\n  - { name: weekly, cron: "0 3 * * 0", pipeline: release, params: { jobs: 4, keep: true } }\n`,
      "s.yaml",
    );
    assert.equal(f.notify, "scheduled");
    assert.deepEqual(f.schedules[0], {
      name: "weekly",
      cron: "0 3 * * 0",
      pipeline: "release",
      params: { jobs: "4", keep: "true" },
      timezone: "UTC",
      overlap: "skip",
    });
    assert.deepEqual(parseScheduleFile("", "empty.yaml").schedules, []);
  });
});

describe("notifier", () => {
  const summary: RunSummary = runSummary(doc("run-1"), "weekly", "http://farm.example:9464/");

  test("the summary has what a receiver needs", () => {
    assert.deepEqual(summary, {
      event: "run-finished",
      runId: "run-1",
      pipeline: "release",
      status: "failed",
      schedule: "weekly",
      params: { arch: "amd64" },
      startedAt: "2026-12-06T03:00:00.000Z",
      finishedAt: "2026-12-06T07:30:00.000Z",
      durationMs: 4.5 * 3600_000,
      failedStages: ["stage1"],
      dashboardUrl: "http://farm.example:9464/ui/#/runs/run-1",
    });
  });

  test("a webhook is POSTed; a failing one is retried with backoff, then counted; a command gets stdin", async () => {
    await using ok = await receiver([200]);
    await using flaky = await receiver([503, 200]);
    await using down = await receiver([500]);
    await using gone = await receiver([404]);
    const dir = await mkdtemp(join(tmpdir(), "sf-notify-"));
    try {
      const results: string[] = [];
      const n = new Notifier({
        logger: silentLogger(),
        retryDelaysMs: [20, 40],
        onResult: (target, result) => results.push(`${target}:${result}`),
      });
      const out = join(dir, "stdin.json");
      const write =
        "const fs = require('fs'); fs.writeFileSync(process.argv[1], fs.readFileSync(0));" +
        "fs.writeFileSync(process.argv[1] + '.env', JSON.stringify(Object.keys(process.env)))";
      n.send(summary, { webhook: ok.url, command: [process.execPath, "-e", write, out] });
      n.send(summary, { webhook: flaky.url });
      n.send(summary, { webhook: down.url });
      n.send(summary, { webhook: gone.url });
      n.send(summary, { command: [process.execPath, "-e", "process.exit(3)"] });
      await n.idle();
      assert.deepEqual(ok.bodies, [{ method: "POST", type: "application/json", body: summary }]);
      assert.equal(flaky.bodies.length, 2, "retried after a 503");
      assert.equal(down.bodies.length, 3, "three tries in all");
      assert.equal(gone.bodies.length, 1, "a 404 is not tried again");
      assert.deepEqual(JSON.parse(await readFile(out, "utf8")), summary);
      const env = JSON.parse(await readFile(`${out}.env`, "utf8")) as string[];
      assert.ok(
        env.every((k) => (COMMAND_ENV_KEYS as readonly string[]).includes(k)),
        `the command gets none of the server's other variables: ${env.join(" ")}`,
      );
      assert.deepEqual(results.toSorted(), [
        "command:failed",
        "command:sent",
        "webhook:failed",
        "webhook:failed",
        "webhook:sent",
        "webhook:sent",
      ]);
      await n.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("schedule service", () => {
  test("routes run ends to the targets; a refused reload keeps the schedules in force", async () => {
    await using hook = await receiver([200]);
    await using other = await receiver([500]);
    const dir = await mkdtemp(join(tmpdir(), "sf-schedules-"));
    try {
      const file = join(dir, "schedules.yaml");
      const good = (notify: string) =>
        `notify: ${notify}\nwebhook: ${hook.url}\nschedules:\n` +
        `  - { name: nightly, cron: "0 2 * * *", pipeline: release, webhook: "${other.url}" }\n`;
      await writeFile(file, good("scheduled"));
      const listeners = new Set<(e: RunEvent) => void>();
      const docs = new Map<string, RunDoc>();
      const launched: string[] = [];
      const clock = new FakeClock(Date.parse("2026-12-07T01:59:59Z"));
      const registry = new Registry();
      const finish = (id: string) => {
        docs.set(id, doc(id, { status: "succeeded", stages: {} }));
        for (const l of listeners)
          l({
            t: "run-finished",
            runId: id,
            pipeline: "release",
            outcome: "succeeded",
            counts: { executed: 0, cached: 0, failed: 0, skipped: 0, cancelled: 0 },
            durationMs: 1,
          });
      };
      let n = 0;
      await using svc = await ScheduleService.open({
        file,
        clock,
        registry,
        watchFile: false,
        logger: silentLogger(),
        newRunId: () => `sched-${++n}`,
        checkPipeline: (name) =>
          name === "release" ? Promise.resolve() : Promise.reject(new Error(`no pipeline ${name}`)),
        runs: {
          onEvent: (l) => (listeners.add(l), () => listeners.delete(l)),
          getRun: (id) => Promise.resolve(docs.get(id) ?? doc(id)),
        },
        launch: (req) => {
          launched.push(req.runId);
          return Promise.resolve({ done: new Promise(() => undefined) });
        },
        notifier: { retryDelaysMs: [] },
      });
      clock.advance(1000);
      await poll(() => launched.length === 1, { timeoutMs: 5000, what: "the scheduled run" });
      finish("sched-1");
      finish("manual-1"); // not scheduled: notify: scheduled sends nothing for it
      await poll(
        async () => (await counter(registry, "stagefarm_notifications_total", { result: "failed" })) === 1,
        {
          timeoutMs: 5000,
          what: "the per-schedule webhook's failure counted",
        },
      );
      await svc.notificationsIdle();
      assert.deepEqual(
        hook.bodies.map((b) => (b as { body: RunSummary }).body.runId),
        ["sched-1"],
        "the global webhook had the scheduled run only",
      );
      assert.equal((hook.bodies[0] as { body: RunSummary }).body.schedule, "nightly");
      assert.equal(other.bodies.length, 1);

      // A bad file: refused, the schedule stays.
      const before = svc.nextTimes();
      await writeFile(file, `schedules:\n  - { name: nightly, cron: "0 25 * * *", pipeline: release }\n`);
      assert.equal(await svc.reload(), false);
      assert.deepEqual(svc.nextTimes(), before);
      await writeFile(file, `schedules:\n  - { name: nightly, cron: "@daily", pipeline: nope }\n`);
      assert.equal(await svc.reload(), false, "a pipeline the server does not have is refused");
      assert.equal(await counter(registry, "stagefarm_schedule_reloads_total", { result: "refused" }), 2);

      // A good one: notify all sends for every run.
      await writeFile(file, good("all"));
      assert.equal(await svc.reload(), true);
      finish("manual-2");
      await poll(() => hook.bodies.length === 2, {
        timeoutMs: 5000,
        what: "the notification of a run not scheduled",
      });
      assert.equal((hook.bodies[1] as { body: RunSummary }).body.schedule, null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
