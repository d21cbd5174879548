/**
 * The dashboard's API refusing what it cannot serve, against a real farm and HTTP server: the
 * events of a run that does not exist are a 404 even when resuming from a valid Last-Event-ID
 * (not an empty stream held open forever), and messages that name a caller's value show it
 * escaped (NUL, bidi overrides) and cut (a 5000-character id).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DashboardFarm, readSse } from "../helpers/dashboard-farm.js";

describe("dashboard bad requests", () => {
  test("SSE of an unknown run with a valid Last-Event-ID is a 404", async () => {
    await using d = await DashboardFarm.create();
    const [hello] = await readSse(`${d.base}/api/dashboard/events`, (e) => e.event === "hello");
    const lastId = hello?.id;
    assert.ok(lastId !== undefined, "the hello event carries an id");
    for (const headers of [{ "last-event-id": lastId }, {}] as Array<Record<string, string>>) {
      const res = await fetch(`${d.base}/api/dashboard/runs/no-such-run/events`, {
        headers,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 404, JSON.stringify(headers));
      assert.equal(((await res.json()) as { code: string }).code, "not_found");
    }
    const res = await fetch(
      `${d.base}/api/dashboard/runs/no-such-run/events?lastEventId=${encodeURIComponent(lastId)}`,
      { signal: AbortSignal.timeout(10_000) },
    );
    assert.equal(res.status, 404);
  });

  test("caller-supplied ids are echoed escaped and cut", async () => {
    await using d = await DashboardFarm.create();
    const hostile = `\u0000\u202eevil${"x".repeat(5000)}`;
    const res = await fetch(`${d.base}/api/dashboard/agents/${encodeURIComponent(hostile)}/drain`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { error } = (await res.json()) as { error: string };
    assert.equal(res.status, 404, error);
    assert.ok(!error.includes("\u0000") && !error.includes("\u202e"), JSON.stringify(error.slice(0, 80)));
    assert.match(error, /\\u\{0\}\\u\{202e\}evil/);
    assert.match(error, /…\(\d+ more\)/);
    assert.ok(error.length < 300, `${error.length} characters`);
    const run = await fetch(`${d.base}/api/dashboard/runs/${"r".repeat(5000)}`);
    assert.equal(run.status, 404);
    assert.ok(((await run.json()) as { error: string }).error.length < 300);
  });
});
