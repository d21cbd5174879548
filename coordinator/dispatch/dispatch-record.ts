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
 * that work to agents (a new one after a lease expiry or a hand-back).
 */
import { z } from "zod";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { KvStore } from "../../shared/ports/index.js";
import {
  decodeMessage,
  encodeMessage,
  jobSchema,
  stageResultSchema,
  type StageResultMessage,
} from "../../shared/protocol/messages.js";

const base = {
  dispatch: z.number().int().positive(),
  attempt: z.number().int().positive(),
  pool: z.string(),
  requires: z.array(z.string()),
  job: jobSchema,
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
  }),
  z.object({
    t: z.literal("finished"),
    ...base,
    owner: z.string(),
    result: stageResultSchema,
    finishedAt: z.number(),
  }),
  z.object({ t: z.literal("cancelled"), ...base, at: z.number() }),
]);
export type DispatchRecord = z.infer<typeof dispatchRecordSchema>;

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

/** Compare-and-set; false on a conflict (someone else changed the record: re-read and retry). */
export async function writeDispatch(
  kv: KvStore,
  key: string,
  rec: DispatchRecord,
  revision: number | undefined,
): Promise<boolean> {
  try {
    if (revision === undefined) await kv.create(key, encodeMessage(rec));
    else await kv.update(key, encodeMessage(rec), revision);
    return true;
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "conflict") return false;
    throw e;
  }
}
