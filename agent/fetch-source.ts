/**
 * Puts a pinned source (url + sha256) into the artifact store, verified.
 *
 * - Already in the store (by its sha256): nothing is downloaded.
 * - http(s): the body is streamed into the store (bounded memory) with the pinned digest as
 *   `expected`, so bytes that do not match are never stored (`digest_mismatch`, naming the URL,
 *   the expected and the actual digest; never retried).
 * - file://: the local file is stored with the same check.
 * - The URL is checked with the parser's own rule (shared/pipeline/rules.ts: the one list of
 *   schemes, no user or password) before anything else, and every message and log line shows
 *   it through `redactUrl`.
 * - 404/410 → `not_found`; other HTTP errors → `unavailable` with the status. Network errors,
 *   5xx, 408 and 429 are retried (default 3 times, exponential backoff, abortable).
 */
import { createHash, type Hash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { assertDigest, sha256File } from "../shared/digest.js";
import { StagefarmError, throwIfAborted } from "../shared/errors.js";
import { urlProblem, type PinnedSource } from "../shared/pipeline/index.js";
import type { ArtifactStore, BlobInfo } from "../shared/store/index.js";
import { redactUrl } from "../shared/util/redact-url.js";
import type { LogSink } from "./runners/common/index.js";

export interface FetchOptions {
  signal: AbortSignal;
  logger: Logger;
  /** The stage log, for `>>>` progress lines. */
  log?: LogSink;
  /** Retries after the first attempt for transient failures (default 3). */
  retries?: number;
  /** Delay before the first retry; doubles each time (default 1000 ms). */
  retryDelayMs?: number;
}

export async function fetchToStore(
  source: PinnedSource,
  store: ArtifactStore,
  opts: FetchOptions,
): Promise<BlobInfo> {
  // Refused before the store is asked: the same URL must not pass here and fail elsewhere.
  const shown = redactUrl(source.url);
  const problem = urlProblem(source.url);
  if (problem !== undefined) throw new StagefarmError("invalid_argument", `source ${problem}`);
  const expected = assertDigest(source.sha256, `sha256 of ${shown}`);
  throwIfAborted(opts.signal);
  const have = await store.statBlob(expected);
  if (have) {
    opts.log?.write(`>>> ${shown}: already in the store (sha256 ${expected.slice(0, 12)}…)\n`);
    return have;
  }
  const url = new URL(source.url); // urlProblem parsed it
  opts.log?.write(`>>> fetching ${shown}\n`);
  if (url.protocol === "file:") return storeLocalFile(url, expected, store, opts.signal);
  return downloadWithRetries(source.url, shown, expected, store, opts);
}

async function storeLocalFile(
  url: URL,
  expected: string,
  store: ArtifactStore,
  signal: AbortSignal,
): Promise<BlobInfo> {
  const path = fileURLToPath(url);
  try {
    return checked(redactUrl(url.href), expected, await store.putBlobFile(path, { expected, signal }));
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "digest_mismatch") {
      const actual = await sha256File(path, signal);
      throw mismatch(redactUrl(url.href), expected, actual.digest, e);
    }
    if (e.code === "not_found")
      throw new StagefarmError("not_found", `source file ${path} does not exist`, { cause: e });
    throw e;
  }
}

/** `url` is fetched; `shown` (redacted) is what messages and logs name. */
async function downloadWithRetries(
  url: string,
  shown: string,
  expected: string,
  store: ArtifactStore,
  opts: FetchOptions,
): Promise<BlobInfo> {
  const retries = opts.retries ?? 3;
  const baseDelay = opts.retryDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await downloadOnce(url, shown, expected, store, opts.signal);
    } catch (err: unknown) {
      if (opts.signal.aborted)
        throw new StagefarmError("cancelled", `download of ${shown} cancelled`, { cause: err });
      const e = StagefarmError.from(err);
      if (!e.retryable || attempt >= retries) throw e;
      const delay = baseDelay * 2 ** attempt;
      opts.logger.warn(
        { url: shown, attempt: attempt + 1, delayMs: delay, err: e },
        "download failed, retrying",
      );
      opts.log?.write(`>>> ${e.message}; retrying in ${delay} ms\n`);
      try {
        await sleep(delay, undefined, { signal: opts.signal });
      } catch (sleepErr: unknown) {
        throw new StagefarmError("cancelled", `download of ${shown} cancelled`, { cause: sleepErr });
      }
    }
  }
}

const RETRIED_STATUSES = new Set([408, 429]);

async function downloadOnce(
  url: string,
  shown: string,
  expected: string,
  store: ArtifactStore,
  signal: AbortSignal,
): Promise<BlobInfo> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: "follow" });
  } catch (err: unknown) {
    throw new StagefarmError("unavailable", `cannot download ${shown}: ${describeNetworkError(err)}`, {
      cause: err,
    });
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    if (res.status === 404 || res.status === 410)
      throw new StagefarmError("not_found", `cannot download ${shown}: ${status}`, {
        details: { status: res.status },
      });
    const transient = res.status >= 500 || RETRIED_STATUSES.has(res.status);
    throw new StagefarmError(
      transient ? "unavailable" : "invalid_argument",
      `cannot download ${shown}: ${status}`,
      {
        details: { status: res.status },
      },
    );
  }
  const hash = createHash("sha256");
  const body = Readable.from(hashedChunks(shown, res.body, hash));
  try {
    return checked(shown, expected, await store.putBlob(body, { expected, signal }));
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "digest_mismatch") throw mismatch(shown, expected, hash.digest("hex"), e);
    throw e;
  } finally {
    body.destroy();
  }
}

/** The body's chunks, hashed on the way (to name the actual digest on a mismatch). */
async function* hashedChunks(
  url: string,
  body: ReadableStream<Uint8Array>,
  hash: Hash,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      yield chunk;
    }
  } catch (err: unknown) {
    throw new StagefarmError("unavailable", `download of ${url} interrupted: ${describeNetworkError(err)}`, {
      cause: err,
    });
  }
}

function describeNetworkError(err: unknown): string {
  const e = StagefarmError.from(err);
  const cause = e.cause instanceof Error ? e.cause.cause : undefined;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}

function mismatch(url: string, expected: string, actual: string, cause: unknown): StagefarmError {
  return new StagefarmError(
    "digest_mismatch",
    `${url} does not match its pinned sha256: expected ${expected}, got ${actual}`,
    { cause, details: { url, expected, actual } },
  );
}

/** Guards against a store that ignored `expected`. */
function checked(url: string, expected: string, info: BlobInfo): BlobInfo {
  if (info.digest !== expected) throw mismatch(url, expected, info.digest, undefined);
  return info;
}
