/**
 * The StagefarmService implementation: every use case of the coordinator's API, written once.
 * Handlers validate their requests, call the Coordinator, and convert its documents to messages;
 * errors are StagefarmErrors. Transports adapt to it: gRPC (shared/grpc turns errors into status)
 * and the HTTP JSON API (../http-api/: proto3 JSON in and out, the same handlers).
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { LogChunkSchema, RunEventSchema, type RunStatus } from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { MessageBus } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import { logPathFor } from "../../shared/job.js";
import { quoted } from "../../shared/util/excerpt.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { RunEvent } from "../engine/events.js";
import type { Coordinator } from "../service/coordinator.js";
import type { RunDoc } from "../service/run-doc.js";
import type { BinhostService } from "../binhost/binhost-service.js";
import { AsyncQueue } from "./async-queue.js";
import { createBinhostApi } from "./binhost-api.js";
import { createCacheApi } from "./cache-api.js";
import { createReleaseApi } from "./release-api.js";
import type { ReleaseService } from "../releases/index.js";
import { artifactStream, targetOf } from "../downloads/index.js";
import type { Run } from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { NamedPipelines } from "../submission/named-pipelines.js";
import { createSubmitApi, type SubmitRequest } from "./submit-api.js";
import { LiveLogs, TAIL_BYTES } from "../dashboard/live-logs.js";
import { readLogTimes } from "../dashboard/log-reader.js";
import { logTimesPage } from "../../shared/log-times.js";
import { heldLog, storedTailOffset, tailLinesOffset } from "./live-tail.js";
import {
  DISPATCHED_STATES,
  agentMessage,
  runMessage,
  runStatusOf,
  stageMessage,
  type DispatchView,
} from "./run-message.js";

export interface ApiDeps {
  coordinator: Coordinator;
  store: ArtifactStore;
  bus: MessageBus;
  subjects: Subjects;
  /** The binhosts' single writer (absent: the binhost RPCs answer UNAVAILABLE). */
  binhost?: BinhostService;
  /** The releases' writer (absent: the release RPCs answer UNAVAILABLE). */
  releases?: ReleaseService;
  /** False while the server drains (`stagefarm up` after its first signal): SubmitRun is refused. */
  accepting?: () => boolean;
  /** Why DrainAgent is refused here (`stagefarm up`: its local agents are its only ones). */
  noDrain?: string | undefined;
  /** How SubmitRun starts a run (default `coordinator.submit`; `stagefarm up` starts it on its
   *  farm, whose local agent offers the labels the pipeline needs). Resolves with the run's id. */
  submit?: ((req: SubmitRequest) => Promise<string>) | undefined;
  /** Pipelines offered by name (`up --pipelines DIR`): SubmitRun's `pipeline_name`. */
  namedPipelines?: NamedPipelines | undefined;
  /** How runs read (default: from the run documents); the dashboard passes its live read model. */
  views?: RunViews | undefined;
  /** The held tails of running stages' logs (default: its own). */
  liveLogs?: LiveLogs | undefined;
}

/** Reads of runs as the API answers them: built from the documents, or a cached read model. */
export interface RunViews {
  /** The run with its stages. */
  run(id: string): Promise<Run>;
  /** A run as ListRuns shows it. */
  listed(doc: RunDoc): Promise<Run>;
  /** The run is being run again (a retry): what is cached of it is stale. */
  changed?(id: string): void;
}

const MAX_PAGE = 500;

function required(value: string, field: string): string {
  if (value.length === 0) throw new StagefarmError("invalid_argument", `${field} is required`);
  return value;
}

export function createStagefarmApi(deps: ApiDeps): ServiceImpl<typeof StagefarmService> {
  const { coordinator } = deps;
  // The held tails of running stages' logs (TailLogs of a running stage starts at its first byte).
  const liveLogs = deps.liveLogs ?? new LiveLogs(deps.bus, deps.subjects, (l) => coordinator.onEvent(l));

  async function dispatchViews(doc: RunDoc): Promise<Map<string, DispatchView>> {
    const views = new Map<string, DispatchView>();
    for (const [name, s] of Object.entries(doc.stages)) {
      if (!DISPATCHED_STATES.has(s.state)) continue;
      const record = await coordinator.worker.record(doc.id, name);
      views.set(name, {
        record,
        reason: record === undefined ? undefined : coordinator.worker.queuedReason(record),
      });
    }
    return views;
  }

  /** The stage and attempt (0: the latest) a log request names, and where that attempt's log is. */
  async function attemptLog(req: { runId: string; stage: string; attempt: number }) {
    const id = required(req.runId, "run_id");
    const stage = required(req.stage, "stage");
    const doc = await coordinator.getRun(id);
    const s = doc.stages[stage];
    if (s === undefined)
      throw new StagefarmError("not_found", `run ${quoted(id)} has no stage ${quoted(stage)}`);
    const attempt = req.attempt === 0 ? (s.attempt ?? 1) : req.attempt;
    // The latest attempt's log is where its record says; an earlier one's at its own path.
    const path =
      attempt === (s.attempt ?? 1) && s.logPath !== undefined ? s.logPath : logPathFor(id, stage, attempt);
    return { id, stage, s, attempt, path };
  }

  async function runOf(doc: RunDoc) {
    return runMessage(doc, await dispatchViews(doc));
  }

  const views: RunViews = deps.views ?? {
    run: async (id) => runOf(await coordinator.getRun(id)),
    listed: runOf,
  };

  return {
    ...createBinhostApi(deps.binhost),
    ...createCacheApi({ store: deps.store, listRuns: () => coordinator.listRuns() }),
    ...createReleaseApi(deps.releases),
    ...createSubmitApi({
      submit: deps.submit ?? (async (r) => (await coordinator.submit(r)).id),
      namedPipelines: deps.namedPipelines,
      accepting: deps.accepting,
      runOf: (id) => views.run(id),
    }),

    async getRun(req) {
      return { run: await views.run(required(req.runId, "run_id")) };
    },

    async listRuns(req) {
      const pageSize = Math.min(req.pageSize === 0 ? 50 : req.pageSize, MAX_PAGE);
      const statuses = new Set<RunStatus>(req.statuses);
      let docs = (await coordinator.listRuns()).filter(
        (d) =>
          (statuses.size === 0 || statuses.has(runStatusOf(d.status))) &&
          (req.pipeline === "" || d.pipeline === req.pipeline),
      );
      const start = req.pageToken === "" ? 0 : Number(req.pageToken);
      if (!Number.isInteger(start) || start < 0)
        throw new StagefarmError("invalid_argument", "invalid page_token");
      docs = docs.slice(start, start + pageSize + 1);
      const more = docs.length > pageSize;
      return {
        runs: await Promise.all(docs.slice(0, pageSize).map((d) => views.listed(d))),
        nextPageToken: more ? String(start + pageSize) : "",
      };
    },

    async *watchRun(req, ctx) {
      const id = required(req.runId, "run_id");
      const events = new AsyncQueue<RunEvent>();
      const off = coordinator.onEvent((e) => {
        if (e.runId === id && (e.t !== "log" || req.includeLogs)) events.push(e);
      });
      const sub = req.includeLogs
        ? deps.bus.subscribe(`${deps.subjects.logs(id, "*")}`, (data, subject) =>
            events.push({
              t: "log",
              runId: id,
              stage: subject.split(".").pop() ?? "",
              attempt: 0,
              chunk: new TextDecoder().decode(data),
            }),
          )
        : undefined;
      try {
        const doc = await coordinator.getRun(id);
        const first = await runOf(doc);
        yield { event: { runId: id, at: timestampNow(), event: { case: "run", value: first } } };
        // Events since the snapshot are queued; a run that had finished by then sends no more.
        if (doc.status !== "running") return;
        const stop = ctx.signal;
        for (;;) {
          const e = await events.next(stop);
          if (e === undefined) return;
          if (e.t === "stage" || e.t === "repro") {
            const cur = await coordinator.getRun(id);
            const s = cur.stages[e.stage];
            if (s === undefined) continue;
            const views = await dispatchViews(cur);
            const st =
              runMessage(cur, views).stages.find((x) => x.name === e.stage) ??
              stageMessage(e.stage, s, "", []);
            yield {
              event: create(RunEventSchema, {
                runId: id,
                at: timestampNow(),
                event: { case: "stage", value: st },
              }),
            };
          } else if (e.t === "log") {
            yield {
              event: create(RunEventSchema, {
                runId: id,
                at: timestampNow(),
                event: {
                  case: "log",
                  value: create(LogChunkSchema, {
                    stage: e.stage,
                    attempt: e.attempt,
                    data: new TextEncoder().encode(e.chunk),
                  }),
                },
              }),
            };
          } else if (e.t === "run-finished") {
            yield {
              event: {
                runId: id,
                at: timestampNow(),
                event: { case: "run", value: await runOf(await coordinator.getRun(id)) },
              },
            };
            return;
          }
        }
      } finally {
        off();
        sub?.unsubscribe();
      }
    },

    async *tailLogs(req, ctx) {
      const { id, stage, s, attempt, path } = await attemptLog(req);
      const live = new AsyncQueue<Uint8Array>();
      const sub = req.follow
        ? deps.bus.subscribe(deps.subjects.logs(id, stage), (data) => live.push(data))
        : undefined;
      const off = coordinator.onEvent((e) => {
        if (
          e.runId === id &&
          e.t === "stage" &&
          e.stage === stage &&
          e.status.t !== "running" &&
          e.status.t !== "ready"
        )
          live.end();
        if (e.runId === id && e.t === "run-finished") live.end();
      });
      try {
        let offset = req.fromOffset;
        try {
          if (offset < 0n || (offset === 0n && req.tailLines > 0)) {
            // `tail -c`: that many bytes before the stored log's end; `tail -n`: that many lines.
            let size = 0n;
            for await (const l of deps.store.listLogs(path)) if (l.path === path) size = BigInt(l.size);
            offset =
              offset < 0n
                ? size + offset < 0n
                  ? 0n
                  : size + offset
                : BigInt(
                    await storedTailOffset(
                      async (start) => (await deps.store.getLog(path, { start })) as AsyncIterable<Buffer>,
                      Number(size),
                      req.tailLines,
                    ),
                  );
          }
          const stream = await deps.store.getLog(path, { start: Number(offset) });
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
            yield { chunk: { stage, attempt, data, offset } };
            offset += BigInt(data.length);
          }
          return;
        } catch (err: unknown) {
          if (StagefarmError.from(err).code !== "not_found") throw err;
          // Running: what exists so far from its first byte (or `tail -c`), then followed.
          const held = liveLogs.get(id, stage);
          if (held !== undefined && held.attempt === attempt && s.state === "running") {
            const fromHeld = (): number => {
              const h = liveLogs.read(held, held.start, TAIL_BYTES);
              return tailLinesOffset(h.data, h.offset, req.tailLines);
            };
            let sent =
              req.fromOffset < 0n
                ? Math.max(0, held.end + Number(req.fromOffset))
                : req.fromOffset === 0n && req.tailLines > 0
                  ? fromHeld()
                  : Number(offset);
            for await (const c of heldLog(liveLogs, held, sent, req.follow, ctx.signal)) {
              yield { chunk: { stage, attempt, data: c.data, offset: BigInt(c.offset) } };
              sent = c.offset + c.data.length;
            }
            if (!req.follow || ctx.signal.aborted) return;
            // Ended: the rest is in its stored log (a cancelled attempt's may not be).
            const rest = await deps.store.getLog(path, { start: sent }).catch(() => undefined);
            for await (const chunk of (rest ?? []) as AsyncIterable<Buffer>) {
              yield { chunk: { stage, attempt, data: new Uint8Array(chunk), offset: BigInt(sent) } };
              sent += chunk.length;
            }
            return;
          }
          offset = 0n; // the live log, from its start
          if (!req.follow)
            throw new StagefarmError(
              "not_found",
              `no log for ${quoted(`${id}/${stage}`)} attempt ${attempt} yet (use --follow)`,
            );
        }
        if (s.state !== "running" && s.state !== "ready" && s.state !== "waiting") return;
        for (;;) {
          const data = await live.next(ctx.signal);
          if (data === undefined) return;
          yield { chunk: { stage, attempt, data, offset } };
          offset += BigInt(data.length);
        }
      } finally {
        sub?.unsubscribe();
        off();
      }
    },

    async getLogTimes(req) {
      const { id, stage, s, attempt, path } = await attemptLog(req);
      const running = s.state === "running" ? { live: liveLogs, runId: id, stage, attempt } : undefined;
      const t = await readLogTimes(deps.store, path, running);
      const page = logTimesPage(t, t.end, Math.max(0, Number(req.fromOffset)));
      return {
        attempt,
        offsets: page.offsets.map(BigInt),
        unixMs: page.unixMs.map(BigInt),
        indexed: t.indexed,
        end: BigInt(page.end),
        more: page.more,
      };
    },

    async cancelRun(req) {
      const id = required(req.runId, "run_id");
      const doc = await coordinator.cancel(id);
      return { run: deps.views === undefined ? await runOf(doc) : await views.run(id) };
    },

    async retryStage(req) {
      const id = required(req.runId, "run_id");
      const doc = await coordinator.retry(id, required(req.stage, "stage"));
      views.changed?.(id);
      return { run: deps.views === undefined ? await runOf(doc) : await views.run(id) };
    },

    listAgents() {
      return Promise.resolve({ agents: coordinator.agents.list().map(agentMessage) });
    },

    drainAgent(req) {
      return Promise.resolve().then(() => {
        const id = required(req.agentId, "agent_id");
        if (deps.noDrain !== undefined) throw new StagefarmError("invalid_argument", deps.noDrain);
        const a = coordinator.drain(id) ? coordinator.agents.get(id) : undefined;
        if (a === undefined) throw new StagefarmError("not_found", `no agent ${quoted(id)} has connected`);
        return { agent: agentMessage(a) };
      });
    },

    undrainAgent(req) {
      return Promise.resolve().then(() => {
        const id = required(req.agentId, "agent_id");
        const a = coordinator.undrain(id) ? coordinator.agents.get(id) : undefined;
        if (a === undefined) throw new StagefarmError("not_found", `no agent ${quoted(id)} has connected`);
        return { agent: agentMessage(a) };
      });
    },

    async *getArtifact(req, ctx) {
      const target = targetOf(req);
      const downloads = { getRun: (id: string) => coordinator.getRun(id), store: deps.store };
      for await (const p of artifactStream(downloads, target, Number(req.offset), ctx.signal))
        yield p.t === "info"
          ? {
              part: {
                case: "info",
                value: {
                  name: target.t === "output" ? target.output : "",
                  digest: p.info.digest,
                  size: BigInt(p.info.size),
                  kind: p.info.kind,
                },
              },
            }
          : { part: { case: "data", value: p.data } };
    },
  };
}
