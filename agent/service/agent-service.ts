/**
 * The agent process's main loop (distributed mode): pull jobs from the pools its labels
 * satisfy, claim each from the coordinator (the lease), run it with the StageExecutor, report
 * the result on the durable event stream, heartbeat while anything runs.
 *
 * - A job whose claim is refused is dropped (`term`): another agent owns it, or it is stale.
 * - The job message is acked only after the claim was granted (the ack is not the lease).
 * - A cancel from the coordinator aborts the stage (its process group is killed).
 * - drain(): stop pulling; running stages finish, or are handed back (`released`) when the
 *   drain timeout passes; a second signal forces.
 * - A failing stage is reported, never thrown: nothing a stage does takes the agent down.
 * - The job's stage is checked once claimed (shared/pipeline/stage-schema.ts): a malformed one
 *   is reported failed with `invalid_argument` naming each problem, and never reaches a runner.
 * - Everything it sends goes on subjects carrying its id (shared/protocol/subjects.ts), which
 *   NATS permissions tie to its user; a claim repeats the job's ticket.
 */
import { randomUUID } from "node:crypto";
import type { MessageBus, Subscription } from "../../shared/bus/index.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import type { StageWorker } from "../../shared/job.js";
import { errorFields, type Logger } from "../../shared/log.js";
import { parseJobStage } from "../../shared/pipeline/index.js";
import type { EventLog, JobQueue, QueueMessage } from "../../shared/ports/index.js";
import {
  claimReplySchema,
  controlSchema,
  decodeMessage,
  encodeMessage,
  jobSchema,
  type AgentEvent,
  type Heartbeat,
  type JobMessage,
} from "../../shared/protocol/messages.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import { poolsFor } from "./pools.js";

/** Failures that are the stage's own (its script, its declared outputs), not the agent's trouble. */
const STAGE_OWN_FAILURE: ReadonlySet<ErrorCode> = new Set(["stage_failed", "missing_output", "timeout"]);

export type ClaimResult = "granted" | "refused" | "error";
export type StageEnd = "succeeded" | "failed" | "cancelled" | "released";

/** What the agent reports to its metrics (../metrics.ts). */
export interface AgentServiceMetrics {
  claim(result: ClaimResult): void;
  stageEnded(result: StageEnd): void;
  runningStages(n: number, draining: boolean): void;
  heartbeatSent(atMs: number): void;
}

export interface AgentServiceOptions {
  agentId: string;
  hostname: string;
  labels: string[];
  slots: number;
  queue: JobQueue;
  events: EventLog;
  bus: MessageBus;
  subjects: Subjects;
  executor: StageWorker;
  logger: Logger;
  heartbeatMs: number;
  claimTimeoutMs: number;
  version: string;
  diskFreeBytes: () => Promise<number>;
  metrics?: AgentServiceMetrics;
}

interface Running {
  runId: string;
  stage: string;
  dispatch: number;
  token: string;
  abort: AbortController;
  /** Why it was aborted: the coordinator cancelled it, or the agent hands it back while draining. */
  why?: "cancel" | "release";
}

/** How long, and how many, stages whose outcome was reported stay listed in heartbeats. */
const REPORTED_KEEP_MS = 5 * 60_000;
const REPORTED_KEEP_MAX = 256;
/**
 * A job this agent may not run goes back to the queue for a random delay in this range: the
 * redelivery lands when another agent of the pool pulls, not in step with this agent's own next
 * pull (a fixed delay kept handing it back to the excluded agent).
 */
const EXCLUDED_NAK_MS = { min: 500, max: 3_000 };
/** Stage ends within this time share one heartbeat. */
const HEARTBEAT_COALESCE_MS = 25;

export class AgentService implements AsyncDisposable {
  private readonly log: Logger;
  private readonly running = new Map<string, Running>();
  /**
   * Stages whose outcome is on the event stream, with when: heartbeats list them for a while, so
   * the coordinator, which may read the stream later than the heartbeat, does not take a stage
   * missing from `running` for a lost one.
   */
  private readonly reported = new Map<string, { ref: Heartbeat["running"][number]; at: number }>();
  /** Stops the pulling loop (a drain; replaced when an operator's drain ends). */
  private stopPulling = new AbortController();
  /** Who drained the agent: an operator (through the coordinator, undone by undrain) or a shutdown. */
  private drainedBy: "operator" | "shutdown" | undefined;
  private readonly subs: Subscription[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** The pending heartbeat of {@link heartbeatSoon}. */
  private soonTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private draining = false;
  /** Jobs taken from the queue and not finished (claiming or running): what occupies slots. */
  private inFlight = 0;
  private heartbeatsStopped = false;
  private freeSlot: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  constructor(private readonly o: AgentServiceOptions) {
    this.log = o.logger.child({ component: "agent", agent: o.agentId });
  }

  start(): void {
    this.subs.push(
      this.o.bus.subscribe(this.o.subjects.control(this.o.agentId), (data) => this.onControl(data)),
    );
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.heartbeatMs);
    void this.heartbeat();
    this.loop = this.pull();
    this.log.info({ labels: this.o.labels, slots: this.o.slots }, "agent started");
  }

  /** Test hook: behave like a stalled agent (no more heartbeats) while stages keep running. */
  stopHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    if (this.soonTimer !== undefined) clearTimeout(this.soonTimer);
    this.heartbeatTimer = undefined;
    this.soonTimer = undefined;
    this.heartbeatsStopped = true;
  }

  get busy(): number {
    return this.running.size;
  }

  /** True once draining: no new work is taken. */
  get isDraining(): boolean {
    return this.draining;
  }

  private async pull(): Promise<void> {
    const pools = poolsFor(this.o.labels);
    const signal = this.stopPulling.signal;
    while (!signal.aborted) {
      try {
        const jobs = this.o.queue.consume(pools, {
          signal,
          maxInFlight: this.o.slots,
          capacity: () => this.o.slots - this.inFlight,
        });
        const it = jobs[Symbol.asyncIterator]();
        for (;;) {
          await this.waitForSlot(signal);
          if (signal.aborted) break;
          const next = await it.next();
          if (next.done === true) break;
          this.inFlight++;
          void this.handle(next.value).finally(() => {
            this.inFlight--;
            this.freeSlot?.();
          });
        }
        await it.return?.();
      } catch (err: unknown) {
        if (signal.aborted) break;
        this.log.warn({ err: StagefarmError.from(err) }, "job consumer failed; reconnecting");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async waitForSlot(signal: AbortSignal): Promise<void> {
    while (this.inFlight >= this.o.slots && !signal.aborted)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.freeSlot = done;
        signal.addEventListener("abort", done, { once: true });
      });
  }

  private async handle(msg: QueueMessage): Promise<void> {
    const d = decodeMessage(jobSchema, msg.payload);
    if (!d.ok) {
      this.log.error({ pool: msg.pool, reason: d.reason }, "malformed job dropped");
      msg.term();
      return;
    }
    const job = d.value;
    if (this.draining) {
      msg.nak(1000);
      return;
    }
    // The second build of a reproducibility check, and this agent built the first: another
    // agent must take it (the coordinator would refuse the claim).
    if (job.exclude?.includes(this.o.agentId) === true) {
      this.log.debug(
        { run: job.runId, stage: job.stageName, dispatch: job.dispatch },
        "job excluded from this agent (a second build elsewhere); returned to the queue",
      );
      msg.nak(EXCLUDED_NAK_MS.min + Math.floor(Math.random() * (EXCLUDED_NAK_MS.max - EXCLUDED_NAK_MS.min)));
      return;
    }
    let token: string;
    try {
      const reply = decodeMessage(
        claimReplySchema,
        await this.o.bus.request(
          this.o.subjects.claim(this.o.agentId),
          encodeMessage({
            v: 1,
            agentId: this.o.agentId,
            runId: job.runId,
            stage: job.stageName,
            dispatch: job.dispatch,
            ...(job.ticket === undefined ? {} : { ticket: job.ticket }),
          }),
          { timeoutMs: this.o.claimTimeoutMs },
        ),
      );
      if (!reply.ok) throw new StagefarmError("internal", `malformed claim reply: ${reply.reason}`);
      if (!reply.value.ok) {
        this.o.metrics?.claim("refused");
        this.log.info(
          { run: job.runId, stage: job.stageName, dispatch: job.dispatch, reason: reply.value.reason },
          "claim refused; job dropped",
        );
        msg.term();
        return;
      }
      token = reply.value.token;
    } catch (err: unknown) {
      this.o.metrics?.claim("error");
      this.log.warn(
        { run: job.runId, stage: job.stageName, err: StagefarmError.from(err) },
        "claim failed; job returned to the queue",
      );
      msg.nak(1000);
      return;
    }
    this.o.metrics?.claim("granted");
    msg.ack();
    await this.runClaimed(job, token);
  }

  private async runClaimed(job: JobMessage, token: string): Promise<void> {
    // By dispatch: a stage cancelled and dispatched again (a retry) can reach this agent while
    // its previous dispatch is still winding down; each is cancelled and ended on its own.
    const key = runningKey(job.runId, job.stageName, job.dispatch);
    const r: Running = {
      runId: job.runId,
      stage: job.stageName,
      dispatch: job.dispatch,
      token,
      abort: new AbortController(),
    };
    this.running.set(key, r);
    this.o.metrics?.runningStages(this.running.size, this.draining);
    const base = {
      v: 1 as const,
      agentId: this.o.agentId,
      runId: job.runId,
      stage: job.stageName,
      dispatch: job.dispatch,
      token,
    };
    const log = this.log.child({ run: job.runId, stage: job.stageName, dispatch: job.dispatch });
    try {
      // No `started` event: the granted claim already told the coordinator (a durable append
      // before running cost a JetStream round trip on every dispatch).
      const logSubject = this.o.subjects.agentLogs(this.o.agentId, job.runId, job.stageName);
      const enc = new TextEncoder();
      let event: AgentEvent;
      try {
        const stage = parseJobStage(job.stage);
        const result = await this.o.executor.execute(
          { runId: job.runId, stage, key: job.key, inputs: job.inputs, attempt: job.attempt },
          {
            signal: r.abort.signal,
            jobs: job.jobs,
            onLog: (chunk) => this.o.bus.publish(logSubject, enc.encode(chunk)),
          },
        );
        event = { t: "finished", ...base, at: Date.now(), result: { ok: true, ...result } };
        this.o.metrics?.stageEnded("succeeded");
        log.info({ durationMs: result.durationMs }, "stage succeeded");
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        if (r.why === "cancel") {
          this.o.metrics?.stageEnded("cancelled");
          log.info("stage cancelled by the coordinator");
          return;
        }
        if (r.why === "release") {
          event = { t: "released", ...base, at: Date.now() };
          this.o.metrics?.stageEnded("released");
          log.warn("stage handed back while draining");
        } else {
          event = {
            t: "finished",
            ...base,
            at: Date.now(),
            result: { ok: false, error: { code: e.code, message: e.message, details: { ...e.details } } },
          };
          this.o.metrics?.stageEnded("failed");
          // Logged once, here, on one line (a stack only for a bug); the coordinator decides the stage.
          log[STAGE_OWN_FAILURE.has(e.code) ? "info" : "warn"](errorFields(e), "stage attempt failed");
        }
      }
      await this.report(event);
      this.reported.set(key, {
        ref: { runId: job.runId, stage: job.stageName, dispatch: job.dispatch, token },
        at: Date.now(),
      });
    } catch (err: unknown) {
      log.error(errorFields(err), "could not report the stage's outcome");
    } finally {
      this.running.delete(key);
      this.o.metrics?.runningStages(this.running.size, this.draining);
      this.heartbeatSoon();
    }
  }

  /**
   * Appends an event to the durable stream (event subject: this agent's id, so the NATS subject
   * is `<prefix>.events.<agent>`), retrying through outages (its msgId deduplicates; it holds the
   * claim's token, so another agent cannot pre-empt it with a duplicate).
   */
  private async report(ev: AgentEvent): Promise<void> {
    const msgId = `${ev.agentId}.${ev.runId}.${ev.stage}.${ev.dispatch}.${ev.t}.${ev.token}`;
    for (let i = 0; ; i++) {
      try {
        await this.o.events.append(this.o.agentId, encodeMessage(ev), { msgId });
        return;
      } catch (err: unknown) {
        if (i >= 60) throw err;
        this.log.warn(
          { err: StagefarmError.from(err), attempt: i + 1 },
          "reporting an event failed; retrying",
        );
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** i)));
      }
    }
  }

  private onControl(data: Uint8Array): void {
    const d = decodeMessage(controlSchema, data);
    if (!d.ok) {
      this.log.warn({ reason: d.reason }, "malformed control message ignored");
      return;
    }
    const c = d.value;
    if (c.t === "drain") {
      void this.drain(Number.POSITIVE_INFINITY, "operator");
      return;
    }
    if (c.t === "undrain") {
      void this.undrain();
      return;
    }
    const r = this.running.get(runningKey(c.runId, c.stage, c.dispatch));
    if (r === undefined) return;
    r.why = "cancel";
    r.abort.abort(new StagefarmError("cancelled", "cancelled by the coordinator"));
  }

  /**
   * A heartbeat soon (a stage ended: the coordinator learns of the free slot), one for all the
   * stages that end within {@link HEARTBEAT_COALESCE_MS}: each carries the recently reported
   * stages (up to 256), so one per stage end cost the coordinator a decode of all of them per
   * stage end.
   */
  private heartbeatSoon(): void {
    if (this.soonTimer !== undefined || this.heartbeatsStopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.heartbeat();
    }, HEARTBEAT_COALESCE_MS);
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatsStopped) return;
    try {
      // Read before the running stages are listed: a heartbeat must not carry a list older than a
      // claim granted meanwhile (the coordinator takes a stage it misses for a lost one).
      const diskFreeBytes = await this.o.diskFreeBytes();
      const hb: Heartbeat = {
        v: 1,
        agentId: this.o.agentId,
        hostname: this.o.hostname,
        labels: this.o.labels,
        slots: this.o.slots,
        running: [...this.running.values()].map((r) => ({
          runId: r.runId,
          stage: r.stage,
          dispatch: r.dispatch,
          token: r.token,
        })),
        reported: this.recentlyReported(),
        draining: this.draining,
        diskFreeBytes,
        version: this.o.version,
        sentAt: Date.now(),
      };
      this.o.bus.publish(this.o.subjects.heartbeat(this.o.agentId), encodeMessage(hb));
      this.o.metrics?.heartbeatSent(hb.sentAt);
    } catch (err: unknown) {
      this.log.warn({ err: StagefarmError.from(err) }, "heartbeat failed");
    }
  }

  /** The stages reported lately (pruned here: older than REPORTED_KEEP_MS, beyond REPORTED_KEEP_MAX). */
  private recentlyReported(): Heartbeat["running"] {
    const oldest = Date.now() - REPORTED_KEEP_MS;
    for (const [k, r] of this.reported)
      if (r.at < oldest || this.reported.size > REPORTED_KEEP_MAX) this.reported.delete(k);
    return [...this.reported.values()].map((r) => r.ref);
  }

  /**
   * Stops taking work; waits up to `timeoutMs` for running stages, then hands the rest back.
   * Resolves when nothing runs any more.
   */
  async drain(timeoutMs: number, by: "operator" | "shutdown" = "shutdown"): Promise<void> {
    if (!this.draining) this.log.info({ running: this.running.size, timeoutMs, by }, "draining");
    // A shutdown's drain is never undone by an operator's undrain.
    if (this.drainedBy !== "shutdown") this.drainedBy = by;
    this.draining = true;
    this.o.metrics?.runningStages(this.running.size, true);
    this.stopPulling.abort();
    void this.heartbeat();
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (!this.draining) return; // undrained meanwhile: its stages go on
    }
    this.releaseAll();
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Ends an operator's drain: the agent pulls work again. A drain for a shutdown (or a closed
   * agent) stays: the undrain is logged and ignored.
   */
  async undrain(): Promise<void> {
    if (!this.draining) return;
    if (this.drainedBy !== "operator" || this.closed !== undefined) {
      this.log.warn({ drainedBy: this.drainedBy }, "undrain ignored: the agent is shutting down");
      return;
    }
    const previous = this.loop;
    this.draining = false;
    this.drainedBy = undefined;
    this.stopPulling = new AbortController();
    await previous;
    if (this.draining || this.closed !== undefined) return; // drained or closed again meanwhile
    this.log.info("undrained: taking work again");
    this.o.metrics?.runningStages(this.running.size, false);
    void this.heartbeat();
    this.loop = this.pull();
  }

  /** Aborts every running stage and hands it back to the coordinator. */
  releaseAll(): void {
    for (const r of this.running.values()) {
      r.why ??= "release";
      r.abort.abort(new StagefarmError("cancelled", "agent shutting down"));
    }
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopPulling.abort();
      this.releaseAll();
      while (this.running.size > 0) await new Promise((r) => setTimeout(r, 50));
      await this.loop;
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      if (this.soonTimer !== undefined) clearTimeout(this.soonTimer);
      for (const s of this.subs) s.unsubscribe();
    })();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A random agent id (hostname-based ids are set by the CLI). */
export function randomAgentId(): string {
  return `agent-${randomUUID().slice(0, 8)}`;
}

function runningKey(runId: string, stage: string, dispatch: number): string {
  return `${runId}/${stage}#${dispatch}`;
}
