/**
 * The stage log endpoints of the dashboard:
 *
 *   GET|HEAD …/log?attempt=N            the stored log, with `Range: bytes=…` (206, Content-Range);
 *                                       404 while the attempt runs (its log is not stored yet);
 *                                       `&download=1`: as a file (Content-Disposition: attachment)
 *   GET …/log/times?attempt=N&from=&to= when the lines of bytes [from, to) were written: {attempt,
 *                                       indexed, end, offsets, unixMs} (./log-reader.ts readLogTimes,
 *                                       shared/log-times.ts; `end`: covered up to there)
 *   GET …/log/search?attempt=N&q=…      matching lines with byte offsets (`from`, `limit`, `next`)
 *   GET …/log/events?attempt=N          SSE: `hello` {attempt, partial, start, end}, then `log`
 *                                       events (a `LogChunk` as JSON, its id `<attempt>:<end offset>`),
 *                                       `gap` {from, to} when a slow reader fell behind the held tail,
 *                                       `end` {attempt, stored, size} once the attempt is over (read
 *                                       the stored log from then on, if `stored`: a cancelled attempt's
 *                                       may not be), `waiting` while it has not started
 *
 * `attempt` 0 (or absent) is the stage's latest attempt. A fresh stream starts 64 KiB before
 * the end of what is held; a reconnect resumes at its Last-Event-ID offset.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, toJson } from "@bufbuild/protobuf";
import { LogChunkSchema } from "../../proto/gen/stagefarm/v1/run_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import { logPathFor } from "../../shared/job.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { Coordinator } from "../service/coordinator.js";
import type { RunDoc } from "../service/run-doc.js";
import { intParam, sendJson } from "./http-util.js";
import type { LiveLog, LiveLogs } from "./live-logs.js";
import { openStoredLog, readLogTimes, searchLog, type StoredLog } from "./log-reader.js";
import { logTimesPage } from "../../shared/log-times.js";
import { SseStream } from "./sse.js";

const FIRST_WINDOW = 64 << 10;
const CHUNK = 64 << 10;
/** Bytes queued on a slow reader's socket before the stream waits for it to drain. */
const MAX_BACKLOG = 1 << 20;

export interface LogRouteDeps {
  coordinator: Coordinator;
  store: ArtifactStore;
  live: LiveLogs;
}

/** The latest attempt that started (a `ready` stage waits to start its next one). */
function latestAttempt(doc: RunDoc, stage: string): number {
  const s = doc.stages[stage];
  if (s === undefined) throw new StagefarmError("not_found", `run ${doc.id} has no stage ${stage}`);
  const n = s.attempt ?? 0;
  return s.state === "ready" ? n - 1 : n;
}

function logPath(doc: RunDoc, stage: string, attempt: number): string {
  const s = doc.stages[stage];
  if (s?.logPath !== undefined && s.attempt === attempt) return s.logPath;
  return logPathFor(doc.id, stage, attempt);
}

/** Parses one `bytes=` range against `size`: [start, end) or "unsatisfiable"; undefined: whole. */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return undefined;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size];
  }
  const start = Number(a);
  const end = b === "" ? size : Math.min(size, Number(b) + 1);
  if (start >= size || end <= start) return "unsatisfiable";
  return [start, end];
}

/** The stored log of the attempt `?attempt=` names (0 or absent: the latest); not_found without one. */
async function storedLog(
  deps: LogRouteDeps,
  doc: RunDoc,
  stage: string,
  url: URL,
): Promise<{ attempt: number; log: StoredLog }> {
  const attempt = intParam(url, "attempt", 0) || latestAttempt(doc, stage);
  if (attempt < 1) throw new StagefarmError("not_found", `stage ${stage} of run ${doc.id} has not run`);
  const log = await openStoredLog(deps.store, logPath(doc, stage, attempt));
  if (log === undefined)
    throw new StagefarmError("not_found", `no stored log for ${doc.id}/${stage} attempt ${attempt} yet`);
  return { attempt, log };
}

export async function serveStoredLog(
  deps: LogRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  doc: RunDoc,
  stage: string,
  url: URL,
): Promise<void> {
  const { attempt, log } = await storedLog(deps, doc, stage, url);
  const range = parseRange(req.headers.range, log.size);
  // Run ids and stage names are tokens ([A-Za-z0-9_-]); the file name is sanitised all the same.
  const filename = `${doc.id}-${stage}-${attempt}.log`.replace(/[^A-Za-z0-9._-]/g, "_");
  const headers = {
    "content-type": "text/plain; charset=utf-8",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "accept-ranges": "bytes",
    "x-stagefarm-attempt": String(attempt),
    ...(url.searchParams.get("download") === "1"
      ? { "content-disposition": `attachment; filename="${filename}"` }
      : {}),
  };
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...headers, "content-range": `bytes */${log.size}` });
    res.end();
    return;
  }
  const [start, end] = range ?? [0, log.size];
  res.writeHead(range === undefined ? 200 : 206, {
    ...headers,
    "content-length": String(end - start),
    ...(range === undefined ? {} : { "content-range": `bytes ${start}-${end - 1}/${log.size}` }),
  });
  if (req.method === "HEAD" || end === start) {
    res.end();
    return;
  }
  const body = await log.read(start, end);
  await new Promise<void>((resolve) => {
    body.once("error", () => res.destroy());
    res.once("close", () => {
      body.destroy();
      resolve();
    });
    body.pipe(res);
  });
}

export async function serveLogTimes(
  deps: LogRouteDeps,
  res: ServerResponse,
  doc: RunDoc,
  stage: string,
  url: URL,
): Promise<void> {
  const attempt = intParam(url, "attempt", 0) || latestAttempt(doc, stage);
  if (attempt < 1) throw new StagefarmError("not_found", `stage ${stage} of run ${doc.id} has not run`);
  const s = doc.stages[stage];
  const running =
    s?.state === "running" && s.attempt === attempt
      ? { live: deps.live, runId: doc.id, stage, attempt }
      : undefined;
  const t = await readLogTimes(deps.store, logPath(doc, stage, attempt), running);
  // The entries of the window the page shows (`from`, `to`: byte offsets), not a whole index.
  const from = Math.min(intParam(url, "from", 0), t.end);
  const to = Math.min(intParam(url, "to", t.end) || t.end, t.end);
  const page = logTimesPage(t, t.end, from);
  const keep = page.offsets.findIndex((o) => o >= to);
  const n = keep < 0 ? page.offsets.length : keep;
  sendJson(res, 200, {
    attempt,
    indexed: t.indexed,
    end: Math.min(page.end, to),
    offsets: page.offsets.slice(0, n),
    unixMs: page.unixMs.slice(0, n),
  });
}

export async function serveLogSearch(
  deps: LogRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  doc: RunDoc,
  stage: string,
  url: URL,
): Promise<void> {
  const q = url.searchParams.get("q") ?? "";
  if (q.length === 0 || q.length > 200)
    throw new StagefarmError("invalid_argument", "search text must have 1 to 200 characters");
  const { attempt, log } = await storedLog(deps, doc, stage, url);
  const abort = new AbortController();
  req.once("close", () => abort.abort());
  const found = await searchLog(log, q, {
    from: Math.min(intParam(url, "from", 0), log.size),
    limit: Math.min(Math.max(intParam(url, "limit", 200), 1), 1000),
    signal: abort.signal,
  });
  sendJson(res, 200, { attempt, size: log.size, ...found });
}

function chunkJson(log: LiveLog, offset: number, data: Uint8Array): unknown {
  return toJson(
    LogChunkSchema,
    create(LogChunkSchema, { stage: log.stage, attempt: log.attempt, data, offset: BigInt(offset) }),
  );
}

/** Streams one attempt's live output (see the module comment for the events). */
export function serveLiveLog(
  deps: LogRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  doc: RunDoc,
  stage: string,
  url: URL,
): void {
  const wanted = intParam(url, "attempt", 0);
  const last = SseStream.lastEventId(req, url);
  const resume = last === undefined ? undefined : /^(\d+):(\d+)$/.exec(last);
  const sse = new SseStream(req, res);
  let log: LiveLog | undefined;
  let sentTo = 0;
  let unwatch: () => void = () => undefined;
  let waiting = false;
  let ended = false;
  let attaching = false;

  let awaitingDrain = false;
  const pump = (): void => {
    if (log === undefined || sse.closed || awaitingDrain) return;
    while (sentTo < log.end) {
      if (sse.backlog > MAX_BACKLOG) {
        awaitingDrain = true;
        sse.onDrain(() => {
          awaitingDrain = false;
          pump();
        });
        return;
      }
      const { offset, data } = deps.live.read(log, sentTo, CHUNK);
      if (offset > sentTo) sse.send("gap", { from: sentTo, to: offset });
      if (data.length === 0) {
        sentTo = log.end;
        break;
      }
      sentTo = offset + data.length;
      sse.send("log", chunkJson(log, offset, data), `${log.attempt}:${sentTo}`);
    }
    if (log.done) {
      const attempt = log.attempt;
      log = undefined;
      finish(attempt);
    }
  };

  /** Ends the stream, saying whether the attempt's log is in the store (a cancelled one may not be). */
  const finish = (attempt: number): void => {
    ended = true;
    clearInterval(poll);
    unwatch();
    openStoredLog(deps.store, logPath(doc, stage, attempt))
      .then(
        (stored) => sse.send("end", { attempt, stored: stored !== undefined, size: stored?.size ?? 0 }),
        () => sse.send("end", { attempt, stored: false, size: 0 }),
      )
      .finally(() => sse.close());
  };

  const attach = async (): Promise<void> => {
    const cur = await deps.coordinator.getRun(doc.id);
    const s = cur.stages[stage];
    if (s === undefined) throw new StagefarmError("not_found", `run ${doc.id} has no stage ${stage}`);
    const latest = latestAttempt(cur, stage);
    const target = wanted || latest;
    const l = deps.live.get(doc.id, stage);
    const live = l !== undefined && (l.attempt === target || (l.attempt === 0 && !l.done));
    if (l === undefined || !live) {
      // Nothing live for it: the attempt has not started yet, or it is over (read the stored log).
      const notStarted = target > latest || target === 0 || (s.state === "running" && target === latest);
      if (notStarted && (s.state === "waiting" || s.state === "ready" || s.state === "running")) {
        if (!waiting) sse.send("waiting", { state: s.state });
        waiting = true;
        return;
      }
      finish(target);
      return;
    }
    clearInterval(poll);
    log = l;
    sse.send("hello", { attempt: l.attempt, partial: l.partial, start: l.start, end: l.end });
    const resumeAt =
      resume?.[1] !== undefined && Number(resume[1]) === l.attempt ? Number(resume[2]) : undefined;
    sentTo = resumeAt ?? Math.max(l.start, l.end - FIRST_WINDOW);
    unwatch = deps.live.watch(l, pump);
    pump();
  };

  const tryAttach = (): void => {
    if (attaching || ended || log !== undefined || sse.closed) return;
    attaching = true;
    attach()
      .catch((err: unknown) => {
        const e = StagefarmError.from(err);
        sse.send("problem", { code: e.code, error: e.message });
        sse.close();
      })
      .finally(() => (attaching = false));
  };
  // Until the attempt starts (or ends), look again twice a second.
  const poll = setInterval(tryAttach, 500);
  sse.signal.addEventListener("abort", () => {
    unwatch();
    clearInterval(poll);
  });
  tryAttach();
}
