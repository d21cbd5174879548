/**
 * A real browser for the dashboard tests: Debian's Chromium (`.ci/run` installs it) driven by
 * playwright-core, headless, with a fresh user data directory and the flags that keep it off
 * the network (no background connections, no updates, no sync: this machine's network is
 * closed). Every page records what must never happen: a JavaScript dialog (an `alert` from
 * injected markup), an uncaught page error, a console error (a CSP violation, a failed
 * request), a response with an error status — tests assert the lists stay empty.
 */
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { StagefarmError } from "../../shared/errors.js";
import { repoRoot } from "./cli.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface PageProblems {
  dialogs: string[];
  pageErrors: string[];
  consoleErrors: string[];
  /** Responses with an error status, as "404 http://…" (the console only says "a 404"). */
  failedResponses: string[];
}

export class TestBrowser implements AsyncDisposable {
  readonly problems: PageProblems = {
    dialogs: [],
    pageErrors: [],
    consoleErrors: [],
    failedResponses: [],
  };

  private readonly byPage = new WeakMap<Page, PageProblems>();

  /** What happened on one page (tests sharing a browser look only at their own page). */
  problemsOf(page: Page): PageProblems {
    const p = this.byPage.get(page);
    if (p === undefined) throw new StagefarmError("invalid_argument", "not a page of this browser");
    return p;
  }

  private constructor(
    readonly context: BrowserContext,
    private readonly dataDir: string,
  ) {}

  static async launch(): Promise<TestBrowser> {
    try {
      await access(CHROMIUM_PATH);
    } catch (err: unknown) {
      throw new StagefarmError(
        "unavailable",
        `${CHROMIUM_PATH} is missing: install Debian's chromium (.ci/run does) to run the dashboard's browser tests`,
        { cause: err },
      );
    }
    const dataDir = await mkdtemp(join(tmpdir(), "sf-chromium-"));
    try {
      const context = await chromium.launchPersistentContext(dataDir, {
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1500, height: 1000 },
        timeout: 30_000,
      });
      return new TestBrowser(context, dataDir);
    } catch (err: unknown) {
      await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A new tab that records dialogs, page errors and console errors into `problems`. */
  async page(): Promise<Page> {
    const page = await this.context.newPage();
    const own: PageProblems = { dialogs: [], pageErrors: [], consoleErrors: [], failedResponses: [] };
    this.byPage.set(page, own);
    // Each problem goes to the page's own lists and to the browser's (every page's).
    const add = (kind: keyof PageProblems, text: string): void => {
      own[kind].push(text);
      this.problems[kind].push(text);
    };
    page.on("dialog", (d) => {
      add("dialogs", `${d.type()}: ${d.message()}`);
      void d.dismiss().catch(() => undefined);
    });
    page.on("pageerror", (e) => add("pageErrors", e.message));
    page.on("console", (m) => {
      if (m.type() === "error") add("consoleErrors", m.text());
    });
    page.on("response", (r) => {
      if (r.status() >= 400) add("failedResponses", `${r.status()} ${r.url()}`);
    });
    return page;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.context.close();
    } finally {
      await rm(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Where tests put what a person should look at (screenshots); under dist/, so never committed. */
export async function artifactPath(name: string): Promise<string> {
  const dir = join(repoRoot, "dist", "test-artifacts");
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}
