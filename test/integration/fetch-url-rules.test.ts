/**
 * One rule for source URLs, applied by `validate` and by the fetch runner: the schemes of
 * SOURCE_URL_SCHEMES only, and no user or password in a URL. A refused URL is named redacted:
 * the password appears in no message, log line or request.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { fetchToStore } from "../../agent/testing.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { SOURCE_URL_SCHEMES } from "../../shared/pipeline/testing.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { redactUrl } from "../../shared/util/redact-url.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { FILE, assertOneError, errorsOf } from "../helpers/pipeline-assert.js";

const SECRET = "hunter2-s3cret";
const SHA = sha256("body\n");

function fetchStage(url: string): string {
  return `stages:\n  f:\n    runner: fetch\n    sources:\n      s: { url: "${url}", sha256: "${SHA}" }\n`;
}

void describe("redactUrl", () => {
  void test("takes out user and password, keeps the rest", () => {
    assert.equal(redactUrl(`https://user:${SECRET}@example.org/x?y#z`), "https://***@example.org/x?y#z");
    assert.equal(redactUrl(`https://${SECRET}@example.org/x`), "https://***@example.org/x");
    assert.equal(redactUrl("https://example.org/x"), "https://example.org/x");
    assert.equal(redactUrl(`not a url //u:${SECRET}@h/x`), "not a url //***@h/x");
  });
});

void describe("validate: source URLs", () => {
  void test("a URL with credentials is refused at its position, redacted, pointing to the store", () => {
    const text = fetchStage(`https://user:${SECRET}@example.org/x.tar.gz`);
    const line = assertOneError(
      text,
      `"https://user`,
      'url "https://***@example.org/x.tar.gz" carries a user name or password',
      "`stagefarm import FILE`",
      '"artifact: <digest>"',
    );
    assert.ok(!line.includes(SECRET));
  });

  void test("a param that supplies credentials is refused when applied, without echoing them", () => {
    const text = `params:\n  mirror: { default: "https://example.org" }\n${fetchStage("${{ params.mirror }}/x.tar.gz")}`;
    const spec = parsePipeline(text, FILE);
    assert.throws(
      () => resolvePipeline(spec, { mirror: `https://u:${SECRET}@example.org` }),
      (err: unknown) =>
        err instanceof StagefarmError &&
        /carries a user name or password/.test(err.message) &&
        !err.message.includes(SECRET),
    );
  });

  void test("ftp:// is refused at validate, naming the schemes that work", () => {
    assertOneError(
      fetchStage("ftp://ftp.example.org/x.tar.gz"),
      `"ftp://`,
      'unsupported scheme "ftp:" (use http, https, file)',
    );
  });

  void test("every scheme of the one list passes validate", () => {
    for (const scheme of SOURCE_URL_SCHEMES) {
      const url = scheme === "file:" ? "file:///srv/x.tar.gz" : `${scheme}//example.org/x.tar.gz`;
      assert.doesNotThrow(() => parsePipeline(fetchStage(url), FILE), url);
    }
    assert.equal(errorsOf(fetchStage("gopher://example.org/x")).length, 1);
  });
});

void describe("the fetch runner applies the same rule", () => {
  let dir: string;
  let store: FsArtifactStore;
  let http: TestHttpServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-fetch-url-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    http = await TestHttpServer.start();
  });
  after(async () => {
    await http.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function refusedAtRun(url: string, why: RegExp): Promise<string> {
    let logged = "";
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged += chunk.toString();
        done();
      },
    });
    const logger = pino({ level: "trace" }, sink);
    let stageLog = "";
    await assert.rejects(
      fetchToStore({ url, sha256: SHA }, store, {
        signal: new AbortController().signal,
        logger,
        log: { write: (c) => (stageLog += String(c)) },
        retryDelayMs: 1,
      }),
      (err: unknown) => {
        assert.ok(err instanceof StagefarmError);
        assert.equal(err.code, "invalid_argument", "refused, not retried as unavailable");
        assert.match(err.message, why);
        assert.ok(!err.message.includes(SECRET), err.message);
        return true;
      },
    );
    assert.ok(!logged.includes(SECRET) && !stageLog.includes(SECRET));
    return stageLog;
  }

  void test("credentials in a URL: refused before any request, nothing logged with them", async () => {
    http.route("/x", { status: 200, body: "body\n" });
    const url = http.url("/x").replace("://", `://user:${SECRET}@`);
    await refusedAtRun(url, /carries a user name or password/);
    assert.equal(http.count("/x"), 0, "no request was made");
  });

  void test("ftp:// is refused by the runner with the parser's message", async () => {
    await refusedAtRun(
      "ftp://ftp.example.org/x.tar.gz",
      /unsupported scheme "ftp:" \(use http, https, file\)/,
    );
  });
});
