/**
 * A client that refreshes the binhost index the way portage does (issue 16, item 2): it keeps
 * its cached index and sends If-Modified-Since = cached TIMESTAMP + 5 s (TIMESTAMP_TOLERANCE,
 * portage's lib/portage/util/_urlopen.py `_timestamp_to_http`), keeps the cache on a 304 and
 * replaces it on a 200. A refresh between two writes made a second apart (a publish, then an
 * `rm`) must see each write; with nothing written it must get a 304.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMetrics, startHttpServer } from "../../coordinator/index.js";
import { parsePackages, type PackagesIndex } from "../../shared/binhost/index.js";
import { silentLogger } from "../../shared/log.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { poll } from "../helpers/poll.js";

const TIMESTAMP_TOLERANCE = 5;

/** Portage's remote index cache, reduced to what decides whether it downloads. */
class PortageLikeClient {
  index: PackagesIndex | undefined;
  readonly statuses: number[] = [];

  constructor(private readonly url: string) {}

  async refresh(): Promise<void> {
    const ts = this.index?.header.TIMESTAMP;
    const headers: Record<string, string> =
      ts === undefined
        ? {}
        : { "if-modified-since": new Date((Number(ts) + TIMESTAMP_TOLERANCE) * 1000).toUTCString() };
    const res = await fetch(this.url, { headers });
    this.statuses.push(res.status);
    if (res.status === 304) return;
    assert.equal(res.status, 200);
    this.index = parsePackages(await res.text());
  }

  get cpvs(): string[] {
    return (this.index?.packages ?? []).map((p) => p.CPV ?? "").sort();
  }
}

/** Waits (polling the clock) until the wall clock is past second `ts`. */
async function pastSecond(ts: number): Promise<void> {
  await poll(() => Math.floor(Date.now() / 1000) > ts, { timeoutMs: 3000, what: `the clock to pass ${ts}` });
}

void test("a portage-like client (If-Modified-Since = TIMESTAMP + 5 s) sees a publish and an rm made a second after its refresh", async () => {
  await using bench = await BinhostBench.create();
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    metrics: await createMetrics(),
    logger: silentLogger(),
    accepting: () => true,
    binhost: { store: bench.fsStore },
  });
  try {
    const client = new PortageLikeClient(`${http.url}/binhost/farm/Packages`);
    const a = await bench.service.publish("farm", [await bench.quick({ category: "dev-libs", pf: "a-1" })]);
    await client.refresh();
    assert.deepEqual(client.cpvs, ["dev-libs/a-1"]);
    await client.refresh();
    assert.equal(client.statuses.at(-1), 304, "unchanged: the cached copy is used");

    // A publish a second after the refresh: TIMESTAMP + 1, within portage's 5 s tolerance.
    await pastSecond(a.timestamp);
    const b = await bench.service.publish("farm", [await bench.quick({ category: "dev-libs", pf: "b-1" })]);
    assert.ok(b.timestamp - a.timestamp < TIMESTAMP_TOLERANCE, `${a.timestamp} → ${b.timestamp}`);
    await client.refresh();
    assert.equal(client.statuses.at(-1), 200, "the publish is seen");
    assert.deepEqual(client.cpvs, ["dev-libs/a-1", "dev-libs/b-1"]);

    // An rm a second later.
    await pastSecond(b.timestamp);
    const removed = await bench.service.remove("farm", "dev-libs/a-1");
    assert.ok(removed.timestamp > b.timestamp);
    await client.refresh();
    assert.equal(client.statuses.at(-1), 200, "the rm is seen");
    assert.deepEqual(client.cpvs, ["dev-libs/b-1"]);
    assert.equal(client.index?.header.TIMESTAMP, String(removed.timestamp));

    await client.refresh();
    assert.equal(client.statuses.at(-1), 304, "unchanged again: 304");
  } finally {
    await http.close();
  }
});
