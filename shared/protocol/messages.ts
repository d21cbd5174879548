/**
 * The coordinator ⇄ agent protocol over NATS (distributed mode). JSON payloads validated with
 * zod on receipt: a malformed message is refused and counted, never trusted. Subjects
 * (./subjects.ts) carry the sending agent's id, which NATS permissions tie to its user:
 *
 *   coordinator ── job ──────────────► <prefix>.jobs.<pool>      (JetStream work queue)
 *   agent ─────── claim request ─────► <prefix>.claim.<agent>    (request/reply: the lease)
 *   agent ─────── heartbeat ─────────► <prefix>.hb.<agent>       (core NATS, every few s)
 *   agent ─────── started/finished ──► <prefix>.events.<agent>   (JetStream, durable)
 *   agent ─────── log chunks ────────► <prefix>.logs.<agent>.<run>.<stage> (core NATS, live tail)
 *   coordinator ── cancel/drain ─────► <prefix>.control.<agent>  (core NATS)
 *   agent ─────── binhost publish ───► <prefix>.binhost.publish.<agent> (request/reply, ./binhost.ts)
 *
 * The JetStream ack is not the lease. An agent acks a job message only after the coordinator
 * granted its claim; the coordinator accepts a result only from the owner of the current
 * dispatch with its token (compare-and-set on the stage record in KV).
 *
 * Identity: the coordinator rejects (and counts) any message whose `agentId` differs from the
 * id in its subject. A claim must carry the job's `ticket`, a secret of that dispatch that only
 * agents allowed to read its pool have seen: an agent cannot claim a job of a pool it may not
 * consume by guessing the run and stage.
 */
import { z } from "zod";

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/);
const digest = z.string().regex(/^[0-9a-f]{64}$/);
const agentId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const runId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);
const ticket = z.string().regex(/^[0-9a-f]{32}$/);

export const outputSchema = z.object({
  digest,
  size: z.number().int().nonnegative(),
  kind: z.enum(["tree", "file"]),
});

/** A job as published on the work queue. `stage` is the resolved stage (checked by the agent once claimed: shared/pipeline/stage-schema.ts). */
export const jobSchema = z.object({
  v: z.literal(1),
  runId,
  stage: z.record(z.string(), z.unknown()),
  stageName: name,
  key: digest,
  inputs: z.record(z.string(), outputSchema),
  /** The engine's attempt (retries after failures). */
  attempt: z.number().int().positive(),
  /** The coordinator's dispatch number for this stage in this run (new after a lease expiry). */
  dispatch: z.number().int().positive(),
  jobs: z.number().int().positive(),
  /** A random secret of this dispatch, repeated in the claim (absent in jobs queued by older versions). */
  ticket: ticket.optional(),
  /** Agents that may not run it (the second build of a reproducibility check runs elsewhere). */
  exclude: z.array(agentId).max(16).optional(),
});
export type JobMessage = z.infer<typeof jobSchema>;

export const claimRequestSchema = z.object({
  v: z.literal(1),
  agentId,
  runId,
  stage: name,
  dispatch: z.number().int().positive(),
  /** The ticket of the job being claimed. */
  ticket: ticket.optional(),
});
export type ClaimRequest = z.infer<typeof claimRequestSchema>;

export const claimReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), token: z.string().min(16), leaseMs: z.number().int().positive() }),
  z.object({ ok: z.literal(false), reason: z.string() }),
]);
export type ClaimReply = z.infer<typeof claimReplySchema>;

export const runningRefSchema = z.object({
  runId,
  stage: name,
  dispatch: z.number().int().positive(),
  token: z.string(),
});

export const heartbeatSchema = z.object({
  v: z.literal(1),
  agentId,
  hostname: z.string().max(255),
  labels: z.array(z.string().max(64)).max(64),
  slots: z.number().int().positive(),
  running: z.array(runningRefSchema).max(1024),
  /**
   * Stages whose outcome the agent has put on the event stream lately (absent from older agents):
   * the coordinator may not have read it yet, so their leases are kept, not lost.
   */
  reported: z.array(runningRefSchema).max(1024).optional(),
  draining: z.boolean(),
  diskFreeBytes: z.number().nonnegative(),
  version: z.string().max(64),
  sentAt: z.number(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const stageErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
});

/** What an agent reports for a stage: its outputs, or the error it failed with. */
export const stageResultSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    outputs: z.record(z.string(), outputSchema),
    logPath: z.string(),
    durationMs: z.number().nonnegative(),
  }),
  z.object({ ok: z.literal(false), error: stageErrorSchema }),
]);
export type StageResultMessage = z.infer<typeof stageResultSchema>;

export const agentEventSchema = z.discriminatedUnion("t", [
  z.object({
    t: z.literal("started"),
    v: z.literal(1),
    agentId,
    runId,
    stage: name,
    dispatch: z.number().int().positive(),
    token: z.string(),
    at: z.number(),
  }),
  z.object({
    /** A claimed stage handed back unfinished (the agent drains): dispatch it again at once. */
    t: z.literal("released"),
    v: z.literal(1),
    agentId,
    runId,
    stage: name,
    dispatch: z.number().int().positive(),
    token: z.string(),
    at: z.number(),
  }),
  z.object({
    t: z.literal("finished"),
    v: z.literal(1),
    agentId,
    runId,
    stage: name,
    dispatch: z.number().int().positive(),
    token: z.string(),
    at: z.number(),
    result: stageResultSchema,
  }),
]);
export type AgentEvent = z.infer<typeof agentEventSchema>;

export const controlSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("cancel"), runId, stage: name, dispatch: z.number().int().positive() }),
  z.object({ t: z.literal("drain") }),
  z.object({ t: z.literal("undrain") }),
]);

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeMessage(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Decodes and validates; returns undefined (and the reason) for anything malformed. */
export function decodeMessage<T>(
  schema: z.ZodType<T>,
  data: Uint8Array,
): { ok: true; value: T } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const r = schema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: z.prettifyError(r.error) };
}
