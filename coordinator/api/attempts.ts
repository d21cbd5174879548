/**
 * A stage's attempts as the API shows them (`StageRun.attempts`, for `stagefarm run show` and
 * the dashboard): the finished ones from the run document (agent, times, outcome, error), the
 * latest from its dispatch record (the running attempt's agent and claim time), and what the
 * dashboard saw live (its journal). Each attempt lists its dispatches from the record's history:
 * every hand-out to an agent, with its agent, times and why it ended.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AttemptOutcome,
  AttemptSchema,
  DispatchEnd,
  DispatchSchema,
  type Attempt,
  type Dispatch,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import { logPathFor } from "../../shared/job.js";
import {
  dispatchesOf,
  type DispatchEnd as RecordEnd,
  type DispatchRecord,
} from "../dispatch/dispatch-record.js";
import type { AttemptDoc, StageDoc } from "../service/run-doc.js";

/** One attempt as the dashboard saw it happen. */
export interface AttemptRecord {
  number: number;
  agent?: string;
  startedAtMs?: number;
  finishedAtMs?: number;
  outcome: AttemptOutcome;
  error?: string;
}

/** Where a stage's attempts are known from, besides its document. */
export interface AttemptSources {
  /** The stage's dispatch record (its latest attempt). */
  record?: DispatchRecord | undefined;
  /** Attempts seen live, by number (the dashboard's journal). */
  journal?: ReadonlyMap<number, AttemptRecord> | undefined;
  /** The stage's own attempts end here (later ones are a reproducibility check's second build). */
  upTo?: number | undefined;
}

function outcomeOfDoc(s: StageDoc): AttemptOutcome {
  switch (s.state) {
    case "done":
      return AttemptOutcome.SUCCEEDED;
    case "failed":
      return s.error?.code === "timeout" ? AttemptOutcome.TIMED_OUT : AttemptOutcome.FAILED;
    case "cancelled":
      return AttemptOutcome.CANCELLED;
    default:
      return AttemptOutcome.RUNNING;
  }
}

const OUTCOMES: Record<AttemptDoc["outcome"], AttemptOutcome> = {
  succeeded: AttemptOutcome.SUCCEEDED,
  failed: AttemptOutcome.FAILED,
  timed_out: AttemptOutcome.TIMED_OUT,
  cancelled: AttemptOutcome.CANCELLED,
};

const ENDS: Record<RecordEnd, DispatchEnd> = {
  finished: DispatchEnd.FINISHED,
  lease_expired: DispatchEnd.LEASE_EXPIRED,
  agent_lost: DispatchEnd.AGENT_LOST,
  handed_back: DispatchEnd.HANDED_BACK,
  cancelled: DispatchEnd.CANCELLED,
  superseded: DispatchEnd.SUPERSEDED,
};

/** The dispatches of every attempt the record knows, by attempt number, as `Dispatch` messages. */
export function dispatchMessages(rec: DispatchRecord | undefined): Map<number, Dispatch[]> {
  const out = new Map<number, Dispatch[]>();
  for (const d of rec === undefined ? [] : dispatchesOf(rec)) {
    const m = create(DispatchSchema, {
      number: d.dispatch,
      agent: d.agent ?? "",
      end: d.end === undefined ? DispatchEnd.ACTIVE : ENDS[d.end],
    });
    if (d.queuedAt !== undefined) m.queuedAt = timestampFromMs(d.queuedAt);
    if (d.claimedAt !== undefined) m.startedAt = timestampFromMs(d.claimedAt);
    if (d.endedAt !== undefined) m.finishedAt = timestampFromMs(d.endedAt);
    out.set(d.attempt, [...(out.get(d.attempt) ?? []), m]);
  }
  return out;
}

/** The stage's attempts, oldest first, as `Attempt` messages. */
export function attemptsOf(runId: string, name: string, s: StageDoc, x: AttemptSources = {}): Attempt[] {
  const rec = x.record;
  const seen = [...(x.journal?.keys() ?? [])];
  // A `ready` stage holds the number of the attempt it has not started yet.
  const current = s.state === "ready" ? (s.attempt ?? 1) - 1 : (s.attempt ?? 0);
  const stored = new Map((s.attempts ?? []).map((a) => [a.n, a]));
  const last = Math.min(
    Math.max(current, rec !== undefined && s.state !== "ready" ? rec.attempt : 0, ...seen, ...stored.keys()),
    x.upTo ?? Number.POSITIVE_INFINITY,
  );
  const dispatches = dispatchMessages(rec);
  const out: Attempt[] = [];
  for (let n = 1; n <= last; n++) {
    const j = x.journal?.get(n);
    const d = stored.get(n);
    const isLast = n === last && s.state !== "ready" && s.state !== "waiting";
    const r = rec?.attempt === n ? rec : undefined;
    let agent = j?.agent ?? d?.agent ?? "";
    let startedAt = j?.startedAtMs ?? d?.startedAt;
    let finishedAt = j?.finishedAtMs ?? d?.finishedAt;
    let outcome =
      j?.outcome ??
      (d === undefined ? undefined : OUTCOMES[d.outcome]) ??
      (isLast ? outcomeOfDoc(s) : AttemptOutcome.FAILED);
    let error = j?.error ?? d?.error ?? "";
    if (r?.t === "running") {
      agent ||= r.owner;
      startedAt ??= r.claimedAt;
    } else if (r?.t === "finished") {
      agent ||= r.owner;
      finishedAt ??= r.finishedAt;
      const ms = r.result.ok ? r.result.durationMs : isLast ? s.durationMs : undefined;
      if (startedAt === undefined && ms !== undefined) startedAt = r.finishedAt - ms;
      if (!r.result.ok) error ||= r.result.error.message;
    }
    if (isLast) {
      outcome = outcomeOfDoc(s) === AttemptOutcome.RUNNING ? outcome : outcomeOfDoc(s);
      if (s.error !== undefined) error ||= s.error.message;
      // Dispatched but not claimed yet: the attempt has not started on any agent.
      if (s.state === "running" && (r?.t === "queued" || (r === undefined && agent === "")))
        startedAt = undefined;
    }
    const a = create(AttemptSchema, {
      number: n,
      agent,
      outcome,
      error,
      logPath: isLast && s.logPath !== undefined ? s.logPath : logPathFor(runId, name, n),
      dispatches: dispatches.get(n) ?? [],
    });
    if (startedAt !== undefined) a.startedAt = timestampFromMs(startedAt);
    if (finishedAt !== undefined) a.finishedAt = timestampFromMs(finishedAt);
    out.push(a);
  }
  return out;
}
