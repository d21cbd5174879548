/**
 * The web dashboard of the embedded farm (`stagefarm up`, the built CLI as a process), driven
 * in Chromium: a pipeline is submitted through the page, its graph reaches done with the
 * critical path marked, a stage's log shows ANSI colours and markup as text, the cache key
 * material is shown; a running run is followed live and cancelled, its stage retried; the
 * runs list filters; the agents page drains; the cache page lists the entries. Markup in
 * params, the pipeline's file name and the log never runs (no dialog, no <img>), and the
 * page logs no error. A screenshot of the run page is saved to dist/test-artifacts/.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { artifactPath, TestBrowser } from "../helpers/browser.js";
import { CliSandbox, repoRoot } from "../helpers/cli.js";

const MARKUP = "<img src=x onerror=alert(1)>";

const PIPELINE = `pipeline: dash-demo
params:
  note:
    default: "hello"
stages:
  src:
    runner: shell
    env: { NOTE: "\${{ params.note }}" }
    script: |
      mkdir -p out
      echo "source $NOTE" > out/a.txt
    outputs:
      tree: out
  build:
    runner: shell
    inputs:
      src: src.tree
    env: { NOTE: "\${{ params.note }}" }
    script: |
      printf '\\033[31mred error text\\033[0m and <b>markup</b> %s\\n' "$NOTE"
      for i in 1 2 3; do echo "compiling step $i"; sleep 0.4; done
      mkdir -p out && cp -r inputs/src out/
    outputs:
      bin: out
  docs:
    runner: shell
    inputs:
      src: src.tree
    script: |
      mkdir -p out && echo docs > out/index.html
    outputs:
      html: out
  package:
    runner: shell
    inputs:
      bin: build.bin
      html: docs.html
    script: |
      mkdir -p out && cp -r inputs out/
    outputs:
      image: out
`;

const SLOW = `pipeline: dash-slow
stages:
  sleeper:
    runner: shell
    estimate: 10m
    script: |
      echo "going to sleep"
      sleep 60
      mkdir -p out
    outputs:
      o: out
`;

/** The page's document, in functions that run in the page: this file has no DOM types, and
 *  the page's CSP allows no string evaluation, so they are functions that cast `globalThis`. */
interface PageGlobal {
  document: {
    querySelector(s: string): { textContent: string | null } | null;
    querySelectorAll(s: string): { length: number };
  };
}

async function waitText(
  page: Page,
  selector: string,
  text: string | RegExp,
  timeout = 60_000,
): Promise<void> {
  const re = typeof text === "string" ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : text;
  await page.waitForFunction(
    ({ selector, source, flags }) =>
      new RegExp(source, flags).test(
        (globalThis as unknown as PageGlobal).document.querySelector(selector)?.textContent ?? "",
      ),
    { selector, source: re.source, flags: re.flags },
    { timeout },
  );
}

/** The attribute `name` of every element `selector` matches. */
async function attrs(page: Page, selector: string, name: string): Promise<string[]> {
  const loc = page.locator(selector);
  const out: string[] = [];
  for (let i = 0, n = await loc.count(); i < n; i++) out.push((await loc.nth(i).getAttribute(name)) ?? "");
  return out;
}

async function stageStates(page: Page): Promise<Record<string, string>> {
  const names = await attrs(page, "g.node[data-stage]", "data-stage");
  const states = await attrs(page, "g.node[data-stage]", "data-state");
  return Object.fromEntries(names.map((n, i) => [n, states[i] ?? ""]));
}

test("the dashboard of stagefarm up, in a real browser", { timeout: 300_000 }, async () => {
  await access(join(repoRoot, "dist/web/index.html")).catch(() => {
    throw new Error("dist/web/index.html is missing: run `npm run build` (it builds the dashboard)");
  });
  await using sb = await CliSandbox.create();
  const child = sb.spawn(["up", "--http", "127.0.0.1:0", "--jobs", "2"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1];
    await using browser = await TestBrowser.launch();
    const page = await browser.page();
    await page.goto(`${base}/`);
    await page.waitForSelector("text=No runs yet");
    // Without --pipelines nothing is offered by name; "new run" opens on the pipeline's YAML.
    assert.deepEqual(await (await fetch(`${base}/api/dashboard/pipelines`)).json(), {
      offered: false,
      pipelines: [],
    });

    // Submit through the page.
    await page.click("[data-testid=new-run]");
    await page.fill("[data-testid=pipeline-yaml]", PIPELINE);
    await page.fill("[data-testid=pipeline-path]", `${MARKUP}.yaml`);
    await page.fill("[data-testid=pipeline-params]", `note=${MARKUP}`);
    await page.click("[data-testid=submit-run]");
    await page.waitForURL(/#\/runs\/r[0-9]/);
    const runId = decodeURIComponent(/#\/runs\/([^/]+)/.exec(page.url())?.[1] ?? "");

    // The graph follows the run to the end.
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobal).document.querySelectorAll(
          'g.node[data-stage][data-state="done"]',
        ).length === 4,
      undefined,
      { timeout: 90_000 },
    );
    await waitText(page, "[data-testid=run-status]", "succeeded");
    assert.deepEqual(await stageStates(page), {
      src: "done",
      build: "done",
      docs: "done",
      package: "done",
    });
    const critical = await attrs(page, "g.node.critical", "data-stage");
    assert.deepEqual(critical.sort(), ["build", "package", "src"], "src → build → package took longest");
    assert.equal(await page.textContent("[data-testid=run-params]"), `note=${MARKUP}`);
    // The timeline: a bar per attempt on the agent's row, named where the bar is wide enough.
    assert.equal(await page.locator("[data-testid=gantt] rect.bar").count(), 4);
    const labels = await page.locator("[data-testid=gantt] text.bar-label").allTextContents();
    assert.ok(labels.includes("build"), `bar labels: ${labels.join(", ")}`);

    // A stage: its log (ANSI colour, markup as text), attempts, outputs, cache key.
    await page.click('g.node[data-stage="build"]');
    await waitText(page, "[data-testid=log]", "compiling step 3");
    const log = (await page.textContent("[data-testid=log]")) ?? "";
    assert.ok(log.includes(`red error text and <b>markup</b> ${MARKUP}`), log);
    const red = await page.textContent("[data-testid=log] span[style*='color']");
    assert.equal(red, "red error text");
    // Each line's time, shown when asked for (not part of the text); the raw log as a file.
    await page.check("[data-testid=log-timestamps]");
    const ts = await page.getAttribute("[data-testid=log] .ln >> nth=0", "data-ts");
    assert.match(ts ?? "", /^\d\d:\d\d:\d\d\.\d{3}$/);
    const rawHref = (await page.getAttribute("[data-testid=log-download]", "href")) ?? "";
    const raw = await fetch(new URL(rawHref, base));
    assert.match(
      raw.headers.get("content-disposition") ?? "",
      /^attachment; filename="[\w-]+-build-1\.log"$/,
    );
    assert.match(await raw.text(), /compiling step 3/);
    await waitText(page, "[data-testid=attempts]", /1\s*local-1/);
    await waitText(page, "[data-testid=outputs]", /bin\s*tree\s*[0-9a-f]{64}/);
    // Its download link serves the output's bytes (the page's own origin and credentials).
    const href = (await page.getAttribute("[data-testid=download]", "href")) ?? "";
    assert.match(href, /\/api\/v1\/runs\/[^/]+\/stages\/build\/outputs\/bin$/);
    const digest = await page.textContent("[data-testid=outputs] code.digest");
    const got = await (await fetch(href)).arrayBuffer();
    assert.equal(createHash("sha256").update(Buffer.from(got)).digest("hex"), digest);
    await page.click("details.key-details summary");
    await waitText(page, "[data-testid=key-material]", "recomputed: same key");
    await page.fill("[data-testid=log-search]", "COMPILING");
    await waitText(page, "[data-testid=log-hits]", "3 lines shown match");
    await page.screenshot({ path: await artifactPath("dashboard-run.png"), fullPage: true });

    // The runs list and its filters; the param's markup is text.
    await page.goto(`${base}/ui/#/runs?status=succeeded`);
    await page.waitForSelector(`tr[data-run="${runId}"]`);
    assert.match(
      (await page.textContent(`tr[data-run="${runId}"]`)) ?? "",
      /note=<img src=x onerror=alert\(1\)>/,
    );
    await page.goto(`${base}/ui/#/runs?status=failed`);
    await page.waitForSelector("text=No runs match these filters");

    // A running run: followed live, cancelled from the page, its stage retried.
    const res = await fetch(`${base}/api/dashboard/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pipelineYaml: SLOW, pipelinePath: "slow.yaml" }),
    });
    assert.equal(res.status, 202);
    const slowId = ((await res.json()) as { run: { id: string } }).run.id;
    await page.goto(`${base}/ui/#/runs/${slowId}/stages/sleeper`);
    await page.waitForSelector('g.node[data-stage="sleeper"][data-state="running"]');
    await waitText(page, "[data-testid=log]", "going to sleep");
    await waitText(page, "[data-testid=log-status]", /^live/);
    // Elapsed vs expected (its estimate: no history) on the panel and the node, the run's ETA.
    await waitText(page, "[data-testid=stage-elapsed]", /^running for [\d.]+ m?s \/ ~10m 00s$/);
    await waitText(page, 'g.node[data-stage="sleeper"] text.sub', /^[\d.]+m?s\/~10m00s/);
    await waitText(page, "[data-testid=run-duration]", /^running for /);
    await waitText(page, "[data-testid=run-eta]", /^ETA ~9m \d\ds$/);
    const served = (await (await fetch(`${base}/api/dashboard/runs/${slowId}`)).json()) as {
      run: { etaMs?: number; stages?: Array<{ expectedMs?: number }> };
    };
    assert.equal(served.run.stages?.[0]?.expectedMs, 600_000);
    assert.ok((served.run.etaMs ?? 0) > 500_000 && (served.run.etaMs ?? 0) <= 600_000, `${served.run.etaMs}`);
    await page.click("[data-testid=cancel-run]");
    await page.click("[data-testid=confirm-cancel]");
    await waitText(page, "[data-testid=run-status]", "cancelled");
    await page.waitForSelector('g.node[data-stage="sleeper"][data-state="cancelled"]');
    await page.click("[data-testid=retry-stage]");
    await waitText(page, "[data-testid=run-status]", "running");
    await page.waitForSelector('g.node[data-stage="sleeper"][data-state="running"]');
    await page.click("[data-testid=cancel-run]");
    await page.click("[data-testid=confirm-cancel]");
    await waitText(page, "[data-testid=run-status]", "cancelled");

    // The cache and the agents.
    await page.goto(`${base}/ui/#/cache`);
    await page.waitForSelector("[data-testid=cache-entries]");
    assert.equal(await page.locator("[data-testid=cache-entries] tbody tr").count(), 4);
    await page.goto(`${base}/ui/#/agents`);
    await page.waitForSelector('tr[data-agent="local-1"]');
    await page.click('tr[data-agent="local-1"] [data-testid=drain]');
    await page.click('tr[data-agent="local-1"] [data-testid=confirm-drain]');
    await waitText(page, 'tr[data-agent="local-1"]', "draining");

    assert.equal(await page.locator("img").count(), 0, "no markup became an element");
    assert.deepEqual(browser.problems, {
      dialogs: [],
      pageErrors: [],
      consoleErrors: [],
      failedResponses: [],
    });

    assert.equal(await child.stop("SIGTERM"), 143, child.describe());
  } finally {
    child.kill();
  }
});
