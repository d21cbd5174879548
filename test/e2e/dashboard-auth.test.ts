/**
 * The dashboard on a farm that checks tokens, in Chromium: the page asks for a token, signing in
 * sets an HttpOnly cookie, the navigation says who the page acts as, actions the role may not
 * take are disabled with the role they need (the server refuses them too), an admin drains an
 * agent, and signing out asks for a token again; anonymous viewers read and may sign in for
 * more. The session API refuses bad tokens and cross-site or non-JSON requests; without an auth
 * file the caller is an admin.
 */
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Authenticator, httpAuth } from "../../coordinator/auth/index.js";
import { parseAuthConfig } from "../../coordinator/auth/testing.js";
import { authFileText, makeTokens } from "../helpers/auth-fixtures.js";
import { TestBrowser } from "../helpers/browser.js";
import { repoRoot } from "../helpers/cli.js";
import { DashboardFarm } from "../helpers/dashboard-farm.js";

const tokens = makeTokens();
const auth = (extra = "") =>
  httpAuth(Authenticator.fromConfig(parseAuthConfig(authFileText(tokens, extra), "auth.yaml")));

function session(
  base: string,
  init: { method: "POST" | "DELETE"; body?: unknown; headers?: Record<string, string> },
) {
  return fetch(`${base}/api/dashboard/session`, {
    method: init.method,
    headers: { "content-type": "application/json", ...init.headers },
    body: init.body === undefined ? "{}" : JSON.stringify(init.body),
  });
}

describe("the dashboard behind tokens", { timeout: 300_000 }, () => {
  let browser: TestBrowser;
  before(async () => {
    await access(join(repoRoot, "dist/web/index.html")).catch(() => {
      throw new Error("dist/web/index.html is missing: run `npm run build` (it builds the dashboard)");
    });
    browser = await TestBrowser.launch();
  });
  after(async () => {
    await browser[Symbol.asyncDispose]();
  });

  test("the session API: tokens checked, an HttpOnly cookie, whoami, signing out", async () => {
    await using d = await DashboardFarm.create({ auth: auth() });
    const bad = await session(d.base, { method: "POST", body: { token: tokens.unknown } });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get("set-cookie"), null);
    const expired = await session(d.base, { method: "POST", body: { token: tokens.expired } });
    assert.equal(expired.status, 401);
    assert.match(((await expired.json()) as { error: string }).error, /expired/);
    assert.equal((await session(d.base, { method: "POST", body: {} })).status, 400);
    const notJson = await fetch(`${d.base}/api/dashboard/session`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: tokens.admin }),
    });
    assert.equal(notJson.status, 400, "a cross-site form cannot sign anyone in");
    const crossSite = await session(d.base, {
      method: "POST",
      body: { token: tokens.admin },
      headers: { "sec-fetch-site": "cross-site" },
    });
    assert.equal(crossSite.status, 400);

    const ok = await session(d.base, { method: "POST", body: { token: tokens.viewer } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: "val", role: "viewer" });
    const cookie = ok.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^stagefarm_token=sft_[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const whoami = await fetch(`${d.base}/api/dashboard/whoami`, {
      headers: { cookie: cookie.split(";")[0] ?? "" },
    });
    assert.deepEqual(await whoami.json(), { name: "val", role: "viewer" });
    const admin = await fetch(`${d.base}/api/dashboard/whoami`, {
      headers: { authorization: `Bearer ${tokens.admin}` },
    });
    assert.deepEqual(await admin.json(), { name: "ada", role: "admin" });
    assert.equal((await fetch(`${d.base}/api/dashboard/whoami`)).status, 401);
    const out = await session(d.base, { method: "DELETE" });
    assert.equal(out.status, 200);
    assert.match(
      out.headers.get("set-cookie") ?? "",
      /^stagefarm_token=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/,
    );
  });

  test("without an auth file the caller is an admin and nothing asks for a token", async () => {
    await using d = await DashboardFarm.create();
    assert.deepEqual(await (await fetch(`${d.base}/api/dashboard/whoami`)).json(), {
      name: "anyone",
      role: "admin",
    });
    const page = await browser.page();
    d.farm.addAgent("a1", []);
    await page.goto(`${d.base}/ui/#/agents`);
    await page.waitForSelector('tr[data-agent="a1"] [data-testid=drain]:not([disabled])');
    assert.equal(await page.locator("[data-testid=caller]").count(), 0);
    await page.close();
  });

  test("sign in, see what the role allows, sign out", async () => {
    await using d = await DashboardFarm.create({ auth: auth() });
    await browser.context.clearCookies();
    d.farm.addAgent("a1", []);
    const page = await browser.page();
    await page.goto(`${d.base}/ui/`);
    await page.waitForSelector("[data-testid=token]");

    // A wrong token: the reason, still signed out.
    await page.fill("[data-testid=token]", tokens.unknown);
    await page.click("[data-testid=sign-in]");
    await page.waitForSelector("text=unknown token");

    // A viewer: reads everything, may not start runs or drain agents.
    await page.fill("[data-testid=token]", tokens.viewer);
    await page.click("[data-testid=sign-in]");
    await page.waitForSelector("[data-testid=caller]");
    assert.match((await page.textContent("[data-testid=caller]")) ?? "", /val · viewer/);
    const newRun = page.locator("[data-testid=new-run]");
    assert.equal(await newRun.isDisabled(), true);
    assert.match((await newRun.getAttribute("title")) ?? "", /needs the submitter role \(val has viewer\)/);
    await page.goto(`${d.base}/ui/#/agents`);
    const drain = page.locator('tr[data-agent="a1"] [data-testid=drain]');
    await drain.waitFor();
    assert.equal(await drain.isDisabled(), true);
    assert.match((await drain.getAttribute("title")) ?? "", /needs the admin role/);
    // The token is not readable by the page's scripts.
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie),
      "",
    );

    // Signing out asks for a token again; an admin drains.
    await page.click("[data-testid=sign-out]");
    await page.waitForSelector("[data-testid=token]");
    await page.fill("[data-testid=token]", tokens.admin);
    await page.click("[data-testid=sign-in]");
    await page.waitForSelector("[data-testid=caller]");
    assert.match((await page.textContent("[data-testid=caller]")) ?? "", /ada · admin/);
    await page.goto(`${d.base}/ui/#/agents`);
    await page.click('tr[data-agent="a1"] [data-testid=drain]:not([disabled])');
    await page.click('tr[data-agent="a1"] [data-testid=confirm-drain]');
    await page.waitForSelector('tr[data-agent="a1"] >> text=draining');
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
    assert.deepEqual(browser.problemsOf(page).dialogs, []);
    await page.close();
  });
  test("anonymous viewers read without a token and may sign in for more", async () => {
    await using d = await DashboardFarm.create({ auth: auth("anonymous: viewer\n") });
    // Cookies are per host, not per port: the previous test's sign-in would apply here.
    await browser.context.clearCookies();
    d.farm.addAgent("a1", []);
    const page = await browser.page();
    await page.goto(`${d.base}/ui/#/agents`);
    const drain = page.locator('tr[data-agent="a1"] [data-testid=drain]');
    await drain.waitFor();
    assert.equal(await drain.isDisabled(), true);
    assert.match((await page.textContent("[data-testid=caller]")) ?? "", /anonymous · viewer/);
    await page.click("[data-testid=caller] >> text=sign in");
    await page.fill("[data-testid=token]", tokens.admin);
    await page.click("[data-testid=sign-in]");
    await page.waitForSelector("[data-testid=caller] >> text=ada · admin");
    await page.goto(`${d.base}/ui/#/agents`);
    await page.waitForSelector('tr[data-agent="a1"] [data-testid=drain]:not([disabled])');
    assert.deepEqual(browser.problemsOf(page).pageErrors, []);
    await page.close();
  });
});
