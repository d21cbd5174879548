/**
 * The scheduler against a clock the test drives: a schedule fires at its cron times, overlap
 * skip / queue / allow, missed runs are not stacked (a stall or a restart fires once or not at
 * all), a reload keeps a schedule's next time and its running run.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import {
  compileCron,
  MAX_SLEEP_MS,
  parseScheduleFile,
  Scheduler,
  type FireOutcome,
  type LaunchRequest,
  type ScheduleEntry,
} from "../../coordinator/schedules/testing.js";
import { silentLogger } from "../../shared/log.js";
import { FakeClock } from "../helpers/fake-clock.js";

const T0 = Date.parse("2026-12-07T10:00:00.500Z");

function entry(over: Partial<ScheduleEntry> & { cron: string }): ScheduleEntry {
  const yaml = `schedules:\n  - ${JSON.stringify({ name: "s", pipeline: "demo", ...over })}\n`;
  const [e] = parseScheduleFile(yaml, "test.yaml").schedules;
  assert.ok(e);
  return e;
}

/** A scheduler whose runs end when the test says so. */
function harness() {
  const clock = new FakeClock(T0);
  const launched: (LaunchRequest & { at: number; end: () => void })[] = [];
  const fires: FireOutcome[] = [];
  let n = 0;
  const scheduler = new Scheduler({
    clock,
    logger: silentLogger(),
    newRunId: () => `r${++n}`,
    onFire: (_s, outcome) => fires.push(outcome),
    launch: (req) => {
      let end: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (end = resolve));
      launched.push({ ...req, at: clock.now(), end });
      return Promise.resolve({ done });
    },
  });
  return { clock, launched, fires, scheduler };
}

describe("scheduler", () => {
  test("fires at each cron time with its pipeline and params", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "* * * * * *", params: { arch: "amd64" } })]);
    h.clock.advance(499); // T0 is hh:mm:00.5: the first second is 500 ms away
    assert.equal(h.launched.length, 0, "not before its time");
    h.clock.advance(1);
    await tick();
    assert.equal(h.launched.length, 1);
    assert.deepEqual(
      { ...h.launched[0], end: undefined },
      {
        runId: "r1",
        schedule: "s",
        pipeline: "demo",
        params: { arch: "amd64" },
        at: T0 + 500,
        end: undefined,
      },
    );
    assert.equal(h.scheduler.scheduleOf("r1"), "s");
    h.launched[0]?.end();
    await tick();
    assert.equal(h.scheduler.scheduleOf("r1"), undefined, "forgotten once the run ended");
    h.clock.advance(1000);
    await tick();
    assert.equal(h.launched.length, 2);
    assert.deepEqual(h.fires, ["started", "started"]);
    h.scheduler.close();
    assert.equal(h.clock.pending, 0, "close cancels the timer");
  });

  test("overlap skip (the default): no second run while one goes on", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "* * * * * *" })]);
    h.clock.advance(1000);
    await tick();
    h.clock.advance(3000);
    await tick();
    assert.equal(h.launched.length, 1);
    assert.deepEqual(h.fires, ["started", "skipped", "skipped", "skipped"]);
    h.launched[0]?.end();
    await tick();
    assert.equal(h.launched.length, 1, "a skipped firing is not made up");
    h.clock.advance(1000);
    await tick();
    assert.equal(h.launched.length, 2);
    h.scheduler.close();
  });

  test("overlap queue: one run waits and starts when the running one ends", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "* * * * * *", overlap: "queue" })]);
    h.clock.advance(4000);
    await tick();
    assert.equal(h.launched.length, 1);
    assert.deepEqual(h.fires.toSorted(), ["queued", "skipped", "skipped", "started"]);
    h.launched[0]?.end();
    await tick();
    await tick();
    assert.equal(h.launched.length, 2, "the queued run starts at once");
    h.scheduler.close();
  });

  test("overlap allow: runs overlap", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "* * * * * *", overlap: "allow" })]);
    h.clock.advance(3000);
    await tick();
    assert.equal(h.launched.length, 3);
    h.scheduler.close();
  });

  test("missed runs are not stacked: a stall fires once, a restart catches nothing up", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "*/5 * * * *" })]); // every 5 minutes: 10:05, 10:10, …
    h.clock.jump(60 * 60_000); // an hour passes without the timer running (suspend, stall)
    h.clock.advance(MAX_SLEEP_MS);
    await tick();
    assert.equal(h.launched.length, 1, "twelve missed times make one run");
    h.launched[0]?.end();
    await tick();
    const next = h.scheduler.nextTimes().s;
    assert.equal(next, Date.parse("2026-12-07T11:05:00Z"), "the next time after now, not a missed one");
    h.scheduler.close();

    // A process started later (a coordinator that was down): the first time is after its start.
    const later = harness();
    later.clock.jump(3 * 60 * 60_000);
    later.scheduler.apply([entry({ cron: "*/5 * * * *" })]);
    later.clock.advance(MAX_SLEEP_MS);
    await tick();
    assert.equal(later.launched.length, 0);
    later.scheduler.close();
  });

  test("a reload keeps an unchanged schedule's time and running run; a changed cron restarts its time", async () => {
    const h = harness();
    h.scheduler.apply([entry({ cron: "* * * * * *" })]);
    h.clock.advance(1000);
    await tick();
    assert.equal(h.launched.length, 1);
    const before = h.scheduler.nextTimes().s;
    h.scheduler.apply([entry({ cron: "* * * * * *", params: { x: "1" } })]);
    assert.equal(h.scheduler.nextTimes().s, before);
    h.clock.advance(2000);
    await tick();
    assert.equal(h.launched.length, 1, "overlap skip still sees the run started before the reload");
    h.launched[0]?.end();
    await tick();
    h.clock.advance(1000);
    await tick();
    assert.deepEqual(h.launched[1]?.params, { x: "1" }, "the reloaded params");
    h.scheduler.apply([entry({ cron: "0 3 * * *" })]);
    assert.equal(h.scheduler.nextTimes().s, Date.parse("2026-12-08T03:00:00Z"));
    h.scheduler.apply([]);
    assert.deepEqual(h.scheduler.nextTimes(), {});
    assert.equal(h.clock.pending, 0);
    h.scheduler.close();
  });

  test("a run that cannot start is counted and does not block the next time", async () => {
    const clock = new FakeClock(T0);
    const fires: FireOutcome[] = [];
    let calls = 0;
    const s = new Scheduler({
      clock,
      logger: silentLogger(),
      newRunId: () => `r${calls}`,
      onFire: (_s, o) => fires.push(o),
      launch: () => {
        calls++;
        return Promise.reject(new Error("no such pipeline"));
      },
    });
    s.apply([entry({ cron: "* * * * * *" })]);
    clock.advance(1000);
    await tick();
    clock.advance(1000);
    await tick();
    assert.equal(calls, 2);
    assert.deepEqual(fires, ["failed", "failed"]);
    s.close();
  });

  test("cron times are computed in the schedule's time zone", () => {
    const weekly = compileCron("0 3 * * 0", "Europe/Berlin"); // Sundays 03:00 Berlin (CET, UTC+1)
    assert.equal(weekly.next(T0), Date.parse("2026-12-13T02:00:00Z"));
    assert.equal(compileCron("0 3 * * 0", "UTC").next(T0), Date.parse("2026-12-13T03:00:00Z"));
  });
});
