/**
 * The line-times index of a stage log (shared/log-times.ts): an entry per chunk that starts a
 * line (not per line, not for a chunk that continues one), lines mapped to their chunk's time,
 * the file format round trip, and stamping lines for `logs --timestamps`; and the interrupted
 * run a restarted `up` shows (coordinator/service/run-history.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeLogTimes,
  encodeLogTimes,
  LineStamper,
  logTimesPage,
  LogTimesRecorder,
  timeAt,
} from "../../shared/log-times.js";
import { interrupted } from "../../coordinator/testing.js";
import type { RunDoc } from "../../coordinator/index.js";

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

test("each line takes the time of the chunk its first byte came in", () => {
  const r = new LogTimesRecorder();
  r.record(b("one\ntw"), 1000); // lines at 0 and 4
  r.record(b("o\n"), 2000); // continues line 4: no entry
  r.record(b("three\nfour\n"), 3000); // lines at 8 and 14
  r.record(b("five"), 3000); // same time as the last entry: none
  r.record(b(""), 4000);
  assert.deepEqual(r.offsets, [0, 8]);
  assert.deepEqual(r.unixMs, [1000, 3000]);
  assert.equal(r.end, 23);
  assert.equal(timeAt(r, 4), 1000, "'two' began in the first chunk");
  assert.equal(timeAt(r, 14), 3000);
  assert.equal(timeAt({ offsets: [5], unixMs: [1] }, 0), undefined);

  const back = decodeLogTimes(encodeLogTimes(r));
  assert.deepEqual(back, { offsets: [0, 8], unixMs: [1000, 3000] });
  assert.throws(() => decodeLogTimes("garbage"), /not a stagefarm log-times index/);
  assert.throws(() => decodeLogTimes("stagefarm-log-times 1\n1 x\n"), /malformed/);
});

test("trimming keeps the entry covering the first held byte", () => {
  const r = new LogTimesRecorder();
  for (let i = 0; i < 10; i++) r.record(b(`line ${i}\n`), 1000 + i);
  r.trimBefore(15);
  assert.equal(r.offsets[0], 14);
  assert.equal(timeAt(r, 15), 1002);
});

test("the index in pages: each from the entry covering its offset, ending where the next begins", () => {
  const t = { offsets: [0, 10, 20, 30, 40], unixMs: [1, 2, 3, 4, 5] };
  const p1 = logTimesPage(t, 50, 0, 2);
  assert.deepEqual(p1, { offsets: [0, 10], unixMs: [1, 2], end: 20, more: true });
  const p2 = logTimesPage(t, 50, p1.end, 2);
  assert.deepEqual(p2, { offsets: [20, 30], unixMs: [3, 4], end: 40, more: true });
  assert.deepEqual(logTimesPage(t, 50, 45, 2), { offsets: [40], unixMs: [5], end: 50, more: false });
  assert.deepEqual(logTimesPage(t, 50, 15), {
    offsets: [10, 20, 30, 40],
    unixMs: [2, 3, 4, 5],
    end: 50,
    more: false,
  });
});

test("stamped lines: each line once, across chunks, with the time of its offset", () => {
  const s = new LineStamper((o) => `[${o}] `);
  const out = [s.push(b("ab\ncd"), 0), s.push(b("e\n"), 5), s.push(b("\nf"), 7)].map((x) => x.toString());
  assert.equal(out.join(""), "[0] ab\n[3] cde\n[7] \n[8] f");
});

test("a run left running is closed as interrupted: running and ready stages failed, waiting ones cancelled", () => {
  const doc: RunDoc = {
    v: 1,
    id: "r1",
    pipeline: "p",
    path: "p.yaml",
    yaml: "",
    params: {},
    status: "running",
    createdAt: 1,
    stages: {
      a: { state: "done", key: "k" },
      b: { state: "running", attempt: 2, startedAt: 100 },
      c: { state: "ready", attempt: 1 },
      d: { state: "waiting", reason: "waiting" },
    },
  };
  const out = interrupted(doc, 500);
  assert.equal(out.status, "failed");
  assert.equal(out.finishedAt, 500);
  assert.deepEqual(out.stages["a"], { state: "done", key: "k" });
  assert.equal(out.stages["b"]?.state, "failed");
  assert.equal(out.stages["b"]?.attempt, 2);
  assert.equal(out.stages["b"]?.durationMs, 400);
  assert.match(out.stages["b"]?.error?.message ?? "", /^interrupted: stagefarm up stopped/);
  assert.equal(out.stages["c"]?.state, "failed");
  assert.equal(out.stages["d"]?.state, "cancelled");
});
