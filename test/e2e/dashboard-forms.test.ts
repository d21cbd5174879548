/**
 * The dashboard's "new run" form and log view against `stagefarm up --pipelines DIR` (the built
 * CLI as a process), in Chromium: the pipelines route answers the offered pipelines with their
 * params; the picker lists them and the form shows the chosen one's params (defaults filled in,
 * required ones marked, descriptions shown); a required param left empty shows the server's
 * refusal beside the form with the field marked; filled in, the run starts and succeeds. Its
 * log's lines are numbered from 1, and the search highlights its matches (case-insensitive)
 * and steps through them, next and previous, wrapping around.
 */
import assert from "node:assert/strict";
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import type { PipelineListJson } from "../../coordinator/testing.js";
import { TestBrowser } from "../helpers/browser.js";
import { CliSandbox, repoRoot } from "../helpers/cli.js";

const GREET = `pipeline: greet
description: Says hello
params:
  who:
    required: true
    description: Whom to greet
  greeting:
    default: hello
    description: The word to greet with
stages:
  say:
    runner: shell
    env: { WHO: "\${{ params.who }}", GREETING: "\${{ params.greeting }}" }
    script: |
      echo "$GREETING $WHO"
      for i in 1 2 3 4 5; do echo "step $i"; done
      echo "a Needle here"
      echo "nothing"
      echo "two needles: needle NEEDLE"
      mkdir -p out && echo done > out/a
    outputs:
      o: out
`;

/** What the test reads of the page, in functions that run there (this file has no DOM types). */
interface PageGlobal {
  document: {
    querySelector(s: string): { textContent: string | null } | null;
    querySelectorAll(
      s: string,
    ): ArrayLike<{ getAttribute(n: string): string | null; textContent: string | null }>;
  };
  CSS: {
    highlights: { get(name: string): { forEach(f: (r: { toString(): string }) => void): void } | undefined };
  };
}

async function waitText(page: Page, selector: string, re: RegExp): Promise<void> {
  await page.waitForFunction(
    ({ selector, source, flags }) =>
      new RegExp(source, flags).test(
        (globalThis as unknown as PageGlobal).document.querySelector(selector)?.textContent ?? "",
      ),
    { selector, source: re.source, flags: re.flags },
    { timeout: 60_000 },
  );
}

/** The texts of a highlight's ranges, and the number of the line the current match is in. */
async function highlights(page: Page): Promise<{ all: string[]; current: string[]; line: string }> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageGlobal;
    const texts = (name: string): string[] => {
      const out: string[] = [];
      g.CSS.highlights.get(name)?.forEach((r) => out.push(r.toString()));
      return out;
    };
    const cur = g.document.querySelectorAll("[data-testid=log] .ln.current");
    return {
      all: texts("log-match"),
      current: texts("log-current"),
      line: cur[0]?.getAttribute("data-n") ?? "",
    };
  });
}

test(
  "new run from an offered pipeline's typed form; the log's numbers and search",
  { timeout: 180_000 },
  async () => {
    await access(join(repoRoot, "dist/web/index.html")).catch(() => {
      throw new Error("dist/web/index.html is missing: run `npm run build` (it builds the dashboard)");
    });
    await using sb = await CliSandbox.create();
    const dir = join(sb.dir, "offered");
    await mkdir(join(dir, "greet"), { recursive: true });
    await writeFile(join(dir, "greet/pipeline.yaml"), GREET);
    await writeFile(
      join(dir, "other.yaml"),
      "pipeline: other\nstages:\n  s: { runner: shell, script: 'true' }\n",
    );
    const child = sb.spawn(["up", "--http", "127.0.0.1:0", "--pipelines", dir]);
    try {
      const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";

      // The route the picker reads.
      const res = await fetch(`${base}/api/dashboard/pipelines`);
      assert.equal(res.status, 200);
      const list = (await res.json()) as PipelineListJson;
      assert.deepEqual(list, {
        offered: true,
        pipelines: [
          {
            name: "greet",
            pipeline: "greet",
            description: "Says hello",
            params: [
              { name: "who", required: true, description: "Whom to greet" },
              { name: "greeting", required: false, default: "hello", description: "The word to greet with" },
            ],
          },
          { name: "other", pipeline: "other", params: [] },
        ],
      });

      // Submissions by name through the dashboard's route: names, never paths.
      for (const [body, status] of [
        [{ pipelineName: "nope" }, 404],
        [{ pipelineName: "../offered/greet" }, 400],
        [{ pipelineName: "/etc/passwd" }, 400],
        [{ pipelineName: 7 }, 400],
        [{ pipelineName: "greet", pipelineYaml: "stages: {}\n" }, 400],
        [{ pipelineName: "greet", params: { who: 1 } }, 400],
        [{ pipelineName: "greet", params: { whom: "x" } }, 400],
      ] as const) {
        const r = await fetch(`${base}/api/dashboard/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        const { error } = (await r.json()) as { error: string };
        assert.equal(r.status, status, `${JSON.stringify(body)}: ${error}`);
        assert.ok(!error.includes(sb.dir), `the server's directory stays unnamed: ${error}`);
      }

      await using browser = await TestBrowser.launch();
      const page = await browser.page();
      await page.goto(`${base}/`);
      await page.click("[data-testid=new-run]");
      await page.waitForSelector("[data-testid=pipeline-picker]");
      assert.deepEqual(await page.locator("[data-testid=pipeline-picker] option").allTextContents(), [
        "greet",
        "other",
      ]);
      await page.selectOption("[data-testid=pipeline-picker]", "other");
      await page.waitForSelector("text=This pipeline has no params.");
      await page.selectOption("[data-testid=pipeline-picker]", "greet");
      await page.waitForSelector("[data-testid=param-greeting]");
      assert.equal(await page.inputValue("[data-testid=param-greeting]"), "hello");
      assert.equal(await page.inputValue("[data-testid=param-who]"), "");
      assert.equal(await page.locator("[data-param=who] [data-testid=required]").count(), 1);
      assert.equal(await page.locator("[data-param=greeting] [data-testid=required]").count(), 0);
      assert.match((await page.textContent("[data-param=who]")) ?? "", /Whom to greet/);
      assert.match((await page.textContent("[data-param=greeting]")) ?? "", /The word to greet with/);

      // The required param left empty: the server's refusal, beside the form.
      await page.click("[data-testid=submit-run]");
      await waitText(
        page,
        "[data-testid=submit-error]",
        /needs a value for a required param:\s+--param who=/,
      );
      assert.equal(await page.getAttribute("[data-testid=param-who]", "aria-invalid"), "true");
      assert.equal(await page.getAttribute("[data-testid=param-greeting]", "aria-invalid"), "false");

      await page.fill("[data-testid=param-who]", "world");
      await page.fill("[data-testid=param-greeting]", "hi");
      await page.click("[data-testid=submit-run]");
      await page.waitForURL(/#\/runs\/r[0-9]/);
      await waitText(page, "[data-testid=run-status]", /succeeded/);
      assert.equal(await page.textContent("[data-testid=run-params]"), "who=worldgreeting=hi");

      // The log: numbered lines, and the search.
      await page.click('g.node[data-stage="say"]');
      await waitText(page, "[data-testid=log]", /two needles/);
      const lines = page.locator("[data-testid=log] .ln[data-n]");
      const numbers = [];
      for (let i = 0, n = await lines.count(); i < n; i++)
        numbers.push(await lines.nth(i).getAttribute("data-n"));
      assert.deepEqual(
        numbers,
        numbers.map((_, i) => String(i + 1)),
      );
      const texts = await lines.allTextContents();
      assert.match(texts[0] ?? "", /^>>> stage say /, "the number is not part of the line's text");
      assert.ok(texts.includes("hi world"), texts.join("\n"));
      const lineOf = (s: string): string => String(texts.findIndex((t) => t.includes(s)) + 1);

      await page.fill("[data-testid=log-search]", "NEEDLE");
      await waitText(page, "[data-testid=log-match-pos]", /^4 matches$/);
      assert.deepEqual((await highlights(page)).all, ["Needle", "needle", "needle", "NEEDLE"]);
      await page.press("[data-testid=log-search]", "Enter");
      await waitText(page, "[data-testid=log-match-pos]", /^1\/4$/);
      assert.deepEqual(await highlights(page), {
        all: ["Needle", "needle", "needle", "NEEDLE"],
        current: ["Needle"],
        line: lineOf("a Needle here"),
      });
      await page.click("[data-testid=log-next]");
      await waitText(page, "[data-testid=log-match-pos]", /^2\/4$/);
      const second = await highlights(page);
      assert.deepEqual([second.current, second.line], [["needle"], lineOf("two needles")]);
      await page.click("[data-testid=log-prev]");
      await page.click("[data-testid=log-prev]");
      await waitText(page, "[data-testid=log-match-pos]", /^4\/4$/);
      assert.deepEqual((await highlights(page)).current, ["NEEDLE"]);

      // The one refusal was the submission's; nothing else failed.
      const problems = browser.problemsOf(page);
      assert.deepEqual(problems.failedResponses, [`400 ${base}/api/dashboard/runs`]);
      assert.ok(
        problems.consoleErrors.every((e) => /status of 400/.test(e)),
        problems.consoleErrors.join("\n"),
      );
      assert.deepEqual([problems.dialogs, problems.pageErrors], [[], []]);
      assert.equal(await child.stop("SIGTERM"), 143, child.describe());
    } finally {
      child.kill();
    }
  },
);
