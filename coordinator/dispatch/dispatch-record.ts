/**
 * The coordinator's record of one stage's dispatch in one run, kept in KV at
 * `stages.<run>.<stage>` and changed only by compare-and-set. It is the lease authority:
 *
 *   queued(dispatch N) ──claim by agent A──► running(N, owner A, token) ──result from A with token──► finished
 *        ▲                                        │
 *        └───────── lease expired: dispatch N+1 ◄─┘         (a late result from A is rejected)
 *   queued/running ──run cancelled──► cancelled
 *
 * `attempt` is the engine's attempt (retries after failures); `dispatch` counts hand-outs of
 * that work to agents (a new one after a lease expiry, a lost agent or a hand-back).
 *
 * `renewedAt` of a running record is the lease's last renewal as written through by the
 * lease table (./lease-table.ts): a restarted coordinator rebuilds the lease clock from it.
 * `history` keeps every earlier dispatch of the stage in this run (all attempts), with its agent,
 * times and why it ended, so re-executions are visible in `run show`, the API and the dashboard.
 */
import { z } from "zod";
import type { Logger } from "../../shared/log.js";
import type { KvStore } from "../../shared/ports/index.js";
import {
  decodeMessage,
  jobSchema,
  stageResultSchema,
  type StageResultMessage,
} from "../../shared/protocol/messages.js";

/** Why a dispatch ended (the current one of a finished or cancelled record ends as its state says). */
export const DISPATCH_ENDS = [
  "finished",
  "lease_expired",
  "agent_lost",
  "handed_back",
  "cancelled",
  "superseded",
] as const;
export type DispatchEnd = (typeof DISPATCH_ENDS)[number];

/** One earlier dispatch of a stage: who had it, from when to when, and why it ended. */
export const dispatchHistorySchema = z.object({
  dispatch: z.number().int().positive(),
  attempt: z.number().int().positive(),
  agent: z.string().optional(),
  queuedAt: z.number().optional(),
  claimedAt: z.number().optional(),
  endedAt: z.number(),
  end: z.enum(DISPATCH_ENDS),
});
export type DispatchHistory = z.infer<typeof dispatchHistorySchema>;

/** History entries kept per stage and run (the oldest are dropped beyond this). */
export const MAX_DISPATCH_HISTORY = 100;

const base = {
  dispatch: z.number().int().positive(),
  attempt: z.number().int().positive(),
  pool: z.string(),
  requires: z.array(z.string()),
  job: jobSchema,
  history: z.array(dispatchHistorySchema).max(MAX_DISPATCH_HISTORY).optional(),
};

export type DispatchResult = StageResultMessage;

export const dispatchRecordSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("queued"), ...base, queuedAt: z.number() }),
  z.object({
    t: z.literal("running"),
    ...base,
    queuedAt: z.number(),
    owner: z.string(),
    token: z.string(),
    claimedAt: z.number(),
    /** The lease's last renewal written to KV (absent: none since the claim). */
    renewedAt: z.number().optional(),
  }),
  z.object({
    t: z.literal("finished"),
    ...base,
    owner: z.string(),
    result: stageResultSchema,
    finishedAt: z.number(),
    queuedAt: z.number().optional(),
    claimedAt: z.number().optional(),
  }),
  z.object({
    t: z.literal("cancelled"),
    ...base,
    at: z.number(),
    queuedAt: z.number().optional(),
    owner: z.string().optional(),
    claimedAt: z.number().optional(),
  }),
]);
export type DispatchRecord = z.infer<typeof dispatchRecordSchema>;

/**
 * The record's history with its current dispatch added as ended (`end`, at `at`): what the next
 * record of the stage carries. Bounded: the oldest entries go first.
 */
export function historyWith(rec: DispatchRecord, end: DispatchEnd, at: number): DispatchHistory[] {
  const { endedAt: _e, end: _n, ...cur } = currentOf(rec);
  return [...(rec.history ?? []), { ...cur, endedAt: at, end }].slice(-MAX_DISPATCH_HISTORY);
}

/** Every dispatch of the stage so far, oldest first: the history and the current one (not ended). */
export function dispatchesOf(rec: DispatchRecord): Array<DispatchHistory | CurrentDispatch> {
  return [...(rec.history ?? []), currentOf(rec)];
}

function currentOf(rec: DispatchRecord): CurrentDispatch {
  const owner = rec.t === "queued" ? undefined : rec.owner;
  const claimedAt = rec.t === "queued" ? undefined : rec.claimedAt;
  return {
    dispatch: rec.dispatch,
    attempt: rec.attempt,
    ...(owner === undefined ? {} : { agent: owner }),
    ...(rec.queuedAt === undefined ? {} : { queuedAt: rec.queuedAt }),
    ...(claimedAt === undefined ? {} : { claimedAt }),
    ...(rec.t === "finished"
      ? { endedAt: rec.finishedAt, end: "finished" as const }
      : rec.t === "cancelled"
        ? { endedAt: rec.at, end: "cancelled" as const }
        : {}),
  };
}

/** The current dispatch of a record: ended when the record is finished or cancelled. */
export type CurrentDispatch = Omit<DispatchHistory, "endedAt" | "end"> &
  Partial<Pick<DispatchHistory, "endedAt" | "end">>;

export function stageKey(runId: string, stage: string): string {
  return `stages.${runId}.${stage}`;
}

/** Reads a dispatch record; an unreadable one is logged and treated as absent (keeping its revision). */
export async function readDispatch(
  kv: KvStore,
  key: string,
  log: Logger,
): Promise<{ rec: DispatchRecord | undefined; revision: number } | undefined> {
  const e = await kv.get(key);
  if (e === undefined) return undefined;
  const d = decodeMessage(dispatchRecordSchema, e.value);
  if (!d.ok) {
    log.error({ key, reason: d.reason }, "unreadable dispatch record; treating as absent");
    return { rec: undefined, revision: e.revision };
  }
  return { rec: d.value, revision: e.revision };
}
