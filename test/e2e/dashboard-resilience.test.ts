/**
 * The dashboard under bad input, in Chromium against a coordinator with agents in this process
 * (the real HTTP server and dashboard, in-process ports): a run of 250 stages renders at once
 * and the page's main thread never blocks on the layout; a coordinator restart under an open
 * page shows "reconnecting…", then the page is live again and follows the resumed run to its
 * end; a log of 200 MB shows only its tail (well under a megabyte fetched) and its search
 * jumps into the middle; stage names, reasons, errors and agents carrying markup (served by a
 * stand-in API, since pipeline files cannot name stages so) show as text everywhere.
 */
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { access } from "node:fs/promises";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { TestBrowser } from "../helpers/browser.js";
import { repoRoot } from "../helpers/cli.js";
import { DashboardFarm } from "../helpers/dashboard-farm.js";

const MARKUP = `<img src=x onerror=alert(1)>`;

interface PageGlobal {
  document: {
    querySelector(s: string): { textContent: string | null } | null;
    querySelectorAll(s: string): { length: number };
  };
  PerformanceObserver: new (cb: (list: { getEntries(): Array<{ duration: number }> }) => void) => {
    observe(o: { type: string; buffered: boolean }): void;
  };
}

async function built(): Promise<void> {
  await access(join(repoRoot, "dist/web/index.html")).catch(() => {
    throw new Error("dist/web/index.html is missing: run `npm run build` (it builds the dashboard)");
  });
}

async function waitText(page: Page, selector: string, re: RegExp, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, source, flags }) =>
      new RegExp(source, flags).test(
        (globalThis as unknown as PageGlobal).document.querySelector(selector)?.textContent ?? "",
      ),
    { selector, source: re.source, flags: re.flags },
    { timeout },
  );
}

async function countIs(page: Page, selector: string, n: number, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, n }) =>
      (globalThis as unknown as PageGlobal).document.querySelectorAll(selector).length === n,
    { selector, n },
    { timeout },
  );
}

/** 100 MB of lines, a marker line, 100 MB more, a last line: 200 000 037 bytes. */
async function writeBigLog(path: string): Promise<void> {
  const line = "a line of build output that goes on and on, as compilers do\n"; // 60 bytes
  const block = Buffer.from(line.repeat(Math.floor((1 << 20) / line.length)));
  const out = createWriteStream(path);
  const write = async (b: Buffer | string): Promise<void> => {
    if (!out.write(b)) await once(out, "drain");
  };
  for (let n = 0; n < 100_000_000; n += block.length)
    await write(block.subarray(0, Math.min(block.length, 100_000_000 - n)));
  await write("\nMARKER in the middle <b>not bold</b>\n");
  for (let n = 0; n < 100_000_000; n += block.length)
    await write(block.subarray(0, Math.min(block.length, 100_000_000 - n)));
  await write("\nthe last line\n");
  out.end();
  await finished(out);
}

function wide(layers: number, width: number): string {
  const lines = ["pipeline: wide", "stages:"];
  for (let l = 0; l < layers; l++)
    for (let i = 0; i < width; i++) {
      lines.push(`  s${l}-${i}:`, "    runner: shell");
      if (l > 0) {
        const a = `s${l - 1}-${i}`;
        const b = `s${l - 1}-${(i * 7 + 3) % width}`;
        lines.push(`    inputs: { a: ${a}.o${a === b ? "" : `, b: ${b}.o`} }`);
      }
      lines.push("    script: mkdir -p out && echo ok > out/x", "    outputs: { o: out }");
    }
  return `${lines.join("\n")}\n`;
}

describe("dashboard under bad input", { timeout: 300_000 }, () => {
  // One browser for the suite (each test opens its own page): starting Chromium takes seconds here.
  let browser: TestBrowser;
  before(async () => {
    await built();
    browser = await TestBrowser.launch();
  });
  after(async () => {
    await browser[Symbol.asyncDispose]();
  });

  test("250 stages render at once; the layout never blocks the page", async () => {
    await using d = await DashboardFarm.create();
    const page = await browser.page();
    d.farm.addAgent("a1", [], 4);
    const id = await d.submit(wide(10, 25));
    await page.goto(`${d.base}/ui/#/runs/${id}`);
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobal & { longest: number };
      g.longest = 0;
      new g.PerformanceObserver((list) => {
        for (const e of list.getEntries()) g.longest = Math.max(g.longest, e.duration);
      }).observe({ type: "longtask", buffered: true });
    });
    const t0 = Date.now();
    await countIs(page, "g.node[data-stage]", 250, 10_000);
    const shownMs = Date.now() - t0;
    await waitText(page, "[data-testid=layout-engine]", /dagre layout/, 60_000);
    await page.waitForSelector("g.node[data-state=done]", { timeout: 30_000 });
    const longest = await page.evaluate(() => (globalThis as unknown as { longest: number }).longest);
    assert.ok(shownMs < 5000, `250 stages took ${shownMs} ms to show`);
    assert.ok(longest < 1500, `the page's main thread was blocked for ${longest} ms`);
    await fetch(`${d.base}/api/dashboard/runs/${id}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    await waitText(page, "[data-testid=run-status]", /cancelled/);
    assert.deepEqual(browser.problemsOf(page).dialogs, []);
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
  });

  test("a coordinator restart under an open page: reconnecting, then live, and the run goes on", async () => {
    await using d = await DashboardFarm.create();
    const page = await browser.page();
    d.farm.addAgent("a1", [], 1);
    const id = await d.submit(`pipeline: restart
stages:
  slow:
    runner: shell
    script: |
      echo started; sleep 4; mkdir -p out && echo x > out/x
    outputs: { o: out }
  after:
    runner: shell
    inputs: { i: slow.o }
    script: mkdir -p out && echo y > out/y
    outputs: { o: out }
`);
    await page.goto(`${d.base}/ui/#/runs/${id}`);
    await page.waitForSelector('g.node[data-stage="slow"][data-state="running"]');
    await waitText(page, "[data-testid=conn]", /^live$/);
    await d.stop();
    await waitText(page, "[data-testid=conn]", /reconnecting/);
    await d.restart();
    await waitText(page, "[data-testid=conn]", /^live$/, 30_000);
    await page.waitForSelector('g.node[data-stage="after"][data-state="done"]', { timeout: 30_000 });
    await waitText(page, "[data-testid=run-status]", /succeeded/);
    assert.deepEqual(browser.problemsOf(page).dialogs, []);
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
  });

  test("a 200 MB log: only its tail is fetched, and search jumps into it", async () => {
    await using d = await DashboardFarm.create();
    d.farm.addAgent("a1", [], 1);
    const id = await d.submit(`pipeline: biglog
stages:
  noisy:
    runner: shell
    script: |
      echo "a short log, replaced below"
      mkdir -p out
    outputs: { o: out }
`);
    const page = await browser.page();
    await page.goto(`${d.base}/ui/#/runs/${id}`);
    await waitText(page, "[data-testid=run-status]", /succeeded/, 30_000);
    // The executor writes logs at some 10 MB/s here: the stored log is made directly instead
    // (what the dashboard reads is the store's file either way).
    await writeBigLog(join(d.farm.store.root, "logs", id, "noisy", "1.log"));
    let logBytes = 0;
    page.on("response", (r) => {
      if (/\/stages\/noisy\/log/.test(r.url())) logBytes += Number(r.headers()["content-length"] ?? "0");
    });
    await page.click('g.node[data-stage="noisy"]');
    await waitText(page, "[data-testid=log]", /the last line/);
    await waitText(page, "[data-testid=log-status]", /of 191 MiB/);
    const lines = await page.locator("[data-testid=log] .ln").count();
    assert.ok(lines < 2000, `${lines} lines on the page`);
    await page.fill("[data-testid=log-search]", "MARKER");
    await page.click("text=search whole log");
    await page.waitForSelector("[data-testid=search-hits] .hit-line", { timeout: 30_000 });
    assert.equal(await page.locator("[data-testid=search-hits] .hit-line").count(), 1);
    await page.click("[data-testid=search-hits] .hit-line");
    await waitText(page, "[data-testid=log] .ln.jump", /^MARKER in the middle <b>not bold<\/b>$/);
    await page.click("text=load earlier");
    await waitText(page, "[data-testid=log-status]", /bytes 95\.\d MiB/);
    assert.ok(logBytes < 1 << 20, `the page fetched ${logBytes} bytes of the log`);
    assert.deepEqual(browser.problemsOf(page).dialogs, []);
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
  });

  test("markup in stage names, reasons, errors, agents and params shows as text", async () => {
    await using d = await DashboardFarm.create();
    const at = new Date().toISOString();
    const stage = (
      name: string,
      state: string,
      extra: Record<string, unknown> = {},
    ): Record<string, unknown> => ({
      name,
      state,
      runner: "shell",
      ...extra,
    });
    const run = {
      id: "r-markup",
      pipeline: `pipe ${MARKUP}`,
      params: { [MARKUP]: MARKUP },
      status: "RUN_STATUS_FAILED",
      createdAt: at,
      finishedAt: at,
      pipelinePath: `${MARKUP}.yaml`,
      error: `stage ${MARKUP} failed: ${MARKUP}`,
      stageCounts: { total: 3, failed: 1, waiting: 1, done: 1 },
      stages: [
        stage("first", "STAGE_STATE_DONE", {
          startedAt: at,
          finishedAt: at,
          attempts: [
            { number: 1, agent: MARKUP, startedAt: at, finishedAt: at, outcome: "ATTEMPT_OUTCOME_SUCCEEDED" },
          ],
        }),
        stage(MARKUP, "STAGE_STATE_FAILED", {
          dependsOn: ["first"],
          error: `exit 1 ${MARKUP}`,
          attempts: [
            {
              number: 1,
              agent: MARKUP,
              startedAt: at,
              finishedAt: at,
              outcome: "ATTEMPT_OUTCOME_FAILED",
              error: MARKUP,
            },
          ],
          outputs: [{ name: MARKUP, digest: "ab".repeat(32), size: "10", kind: "file" }],
        }),
        stage("later", "STAGE_STATE_WAITING", { dependsOn: [MARKUP], reason: `waiting for ${MARKUP}` }),
      ],
    };
    const page = await browser.page();
    // A stand-in API: no pipeline file can name a stage like this, but the page must not trust it.
    await page.route(/\/api\/dashboard\/runs\/r-markup\/events/, (r) =>
      r.fulfill({
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: `retry: 60000\n\nevent: run\nid: x.1\ndata: ${JSON.stringify({ runId: run.id, run })}\n\n`,
      }),
    );
    await page.route(/\/api\/dashboard\/runs\/r-markup\/stages\/.*\/log/, (r) =>
      r.fulfill({ status: 200, headers: { "content-type": "text/plain" }, body: `${MARKUP}\n` }),
    );
    await page.route(/\/api\/dashboard\/runs(\?.*)?$/, (r) =>
      r.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({ runs: [{ ...run, stages: [] }] }),
      }),
    );
    await page.goto(`${d.base}/ui/#/runs/r-markup/stages/${encodeURIComponent(MARKUP)}`);
    await page.waitForSelector("[data-testid=stage-panel]");
    assert.equal(await page.textContent("[data-testid=stage-title]"), MARKUP);
    assert.equal(await page.getAttribute('g.node[data-state="failed"]', "data-stage"), MARKUP);
    assert.match((await page.textContent('g.node[data-state="failed"]')) ?? "", /<img src=x/);
    assert.match(
      (await page.textContent("[data-testid=waiting]")) ?? "",
      /waiting for <img src=x onerror=alert\(1\)>/,
    );
    assert.match(
      (await page.textContent("[data-testid=run-error]")) ?? "",
      /stage <img src=x onerror=alert\(1\)> failed/,
    );
    assert.match((await page.textContent("[data-testid=attempts]")) ?? "", /<img src=x onerror=alert\(1\)>/);
    assert.match((await page.textContent("[data-testid=outputs]")) ?? "", /<img src=x onerror=alert\(1\)>/);
    assert.match(
      (await page.textContent("[data-testid=run-params]")) ?? "",
      /<img src=x onerror=alert\(1\)>=<img/,
    );
    assert.match((await page.textContent("[data-testid=gantt]")) ?? "", /<img src=x/);
    await waitText(page, "[data-testid=log]", /<img src=x onerror=alert\(1\)>/);
    await page.goto(`${d.base}/ui/#/runs`);
    await page.waitForSelector('tr[data-run="r-markup"]');
    assert.match(
      (await page.textContent('tr[data-run="r-markup"]')) ?? "",
      /pipe <img src=x onerror=alert\(1\)>/,
    );
    assert.equal(await page.locator("img").count(), 0, "no markup became an element");
    assert.deepEqual(browser.problemsOf(page).dialogs, []);
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
  });
});
