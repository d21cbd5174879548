/**
 * The coordinator's StageWorker in distributed mode: hands a stage to the agent fleet and
 * resolves when the current owner of the current dispatch reports its result.
 *
 * - dispatch: write `queued(N)` to KV (compare-and-set), then publish the job on the pool's
 *   work-queue subject (msgId `<run>.<stage>.<N>`, so a republish after a crash is deduplicated);
 * - claim: an agent asks for dispatch N with the job's ticket (a random secret of the dispatch,
 *   known only to agents that could read the job); the first asker while the record is
 *   `queued(N)` gets `running(N, owner, token)` and a lease; everyone else is told no (and
 *   drops the message); a claim without the ticket is refused and counted (`bad_ticket`);
 * - heartbeats extend the lease (./lease-table.ts), and the renewal is written through to the
 *   record at most every quarter TTL, so a restarted coordinator rebuilds the lease clock from KV
 *   instead of granting a fresh lease; an expired lease makes dispatch N+1 and the old owner's
 *   late result is rejected and counted;
 * - a heartbeat of the owner that no longer lists the stage (the agent restarted, or dropped it),
 *   beyond a grace for a claim still in flight, loses the stage at once: dispatch N+1;
 * - every record carries the earlier dispatches of the stage (`history`: agent, times, why each
 *   ended), so re-executions are visible in the API and the dashboard;
 * - results arrive on the durable event stream; only the owner with the token of the current
 *   dispatch is accepted (compare-and-set to `finished`). The engine, not this worker, writes the
 *   action-cache manifest after `execute` resolves, so a fenced agent never publishes a cache entry.
 * - every record change is a compare-and-set written through to KV before anyone is told; the
 *   read before it comes from memory while `execute` waits for the stage (./dispatch-records.ts);
 * - after a coordinator restart, `execute` for the same stage attaches to the record in KV
 *   instead of dispatching again: a finished result is used, a running one waits on its lease,
 *   rebuilt from the record's last renewal (and checked against the owner's last heartbeat).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../shared/log.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ExecuteOptions, StageJob, StageResult, StageWorker } from "../../shared/job.js";
import type { MessageBus } from "../../shared/bus/index.js";
import type { JobQueue, KvStore } from "../../shared/ports/index.js";
import { poolName } from "../../shared/ports/index.js";
import {
  encodeMessage,
  type AgentEvent,
  type ClaimReply,
  type ClaimRequest,
  type Heartbeat,
  type JobMessage,
} from "../../shared/protocol/messages.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { AgentRegistry } from "./agent-registry.js";
import type { RejectReason } from "./message-guard.js";
import { LeaseTable, leaseTimes, type Lease } from "./lease-table.js";
import { historyWith, stageKey, type DispatchEnd, type DispatchRecord } from "./dispatch-record.js";
import { DispatchRecords, type ReadRecord } from "./dispatch-records.js";
import { StageWaits, type DispatchSnapshot } from "./stage-waits.js";

export type { DispatchSnapshot } from "./stage-waits.js";

export interface DispatchMetrics {
  staleResult(): void;
  leaseExpired(): void;
  /** A stage was claimed after waiting `seconds` in its pool's queue. */
  queueWait?(pool: string, seconds: number): void;
  /** Hands the metrics a way to read the dispatcher's state at scrape time. */
  observeDispatch?(source: () => DispatchSnapshot): void;
  /** An agent's message was rejected (./message-guard.ts). */
  messageRejected?(reason: RejectReason): void;
}

/** Retries a call through a NATS outage (shared/store/store-outage.ts `StoreOutage.run`). */
export interface OutageRunner {
  run<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export interface DispatchDeps {
  /** The dispatch records' store (the coordinator's rides out NATS outages itself). */
  kv: KvStore;
  /** Job publishes wait through NATS outages with it (absent: tried once). */
  outage?: OutageRunner;
  queue: JobQueue;
  bus: MessageBus;
  subjects: Subjects;
  agents: AgentRegistry;
  logger: Logger;
  leaseMs: number;
  /** A heartbeat omitting a stage claimed less than this long ago keeps it (default: TTL/3, at most 3 s). */
  claimGraceMs?: number;
  /** A lease rebuilt from KV lasts at least this long after a restart (default: TTL/3, at most 10 s). */
  restoreGraceMs?: number;
  metrics?: DispatchMetrics;
  now?: () => number;
}

export class DispatchWorker implements StageWorker {
  private readonly waits = new StageWaits();
  /** The records of the stages waited for, in memory in front of KV (./dispatch-records.ts). */
  private readonly records: DispatchRecords;
  private readonly leases: LeaseTable;
  /** Dispatches this process has published (a queued record found after a restart is republished). */
  private readonly published = new Set<string>();
  private readonly log: Logger;
  private readonly now: () => number;
  private stopping = false;
  private checking = false;
  /** Stage keys whose lease renewal is being written, or whose loss is being handled. */
  private readonly renewing = new Set<string>();
  private readonly losing = new Set<string>();

  constructor(private readonly deps: DispatchDeps) {
    this.log = deps.logger.child({ component: "dispatch" });
    this.now = deps.now ?? Date.now;
    this.records = new DispatchRecords(deps.kv, this.log);
    const times: Parameters<typeof leaseTimes>[1] = {};
    if (deps.claimGraceMs !== undefined) times.claimGraceMs = deps.claimGraceMs;
    if (deps.restoreGraceMs !== undefined) times.restoreGraceMs = deps.restoreGraceMs;
    this.leases = new LeaseTable(leaseTimes(deps.leaseMs, times), this.now);
    deps.metrics?.observeDispatch?.(() => this.snapshot());
  }

  /** Queued and claimed stages and the fleet, for metrics. */
  snapshot(): DispatchSnapshot {
    return this.waits.snapshot(this.deps.agents);
  }

  async execute(job: StageJob, opts: ExecuteOptions): Promise<StageResult> {
    const key = stageKey(job.runId, job.stage.name);
    opts.signal.throwIfAborted();
    this.records.hold(key);
    const done = this.waits.wait(key, job.attempt);
    const onAbort = (): void => {
      if (this.stopping) {
        // The coordinator is shutting down: abandon the wait, leave KV and the agent alone.
        this.waits.reject(key, new StagefarmError("unavailable", "coordinator shutting down"));
        return;
      }
      this.cancel(job.runId, job.stage.name, job.attempt).catch((err: unknown) =>
        this.log.error({ key, err: StagefarmError.from(err) }, "cancelling a dispatch failed"),
      );
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.ensureDispatched(job, opts.jobs);
      return await done;
    } finally {
      opts.signal.removeEventListener("abort", onAbort);
      this.waits.forget(key);
      this.records.release(key);
    }
  }

  /** Dispatches the job, or attaches to the dispatch KV already holds for this attempt. */
  private async ensureDispatched(job: StageJob, jobs: number): Promise<void> {
    const key = stageKey(job.runId, job.stage.name);
    for (;;) {
      const cur = await this.read(key);
      const rec = cur?.rec;
      if (rec !== undefined && rec.attempt === job.attempt && rec.t !== "cancelled") {
        if (rec.t === "finished") return this.waits.settle(key, rec.attempt, rec.result, rec.owner);
        this.waits.track(key, rec);
        if (rec.t === "running" && !this.leases.has(key)) this.restoreLease(key, rec);
        if (rec.t === "queued" && !this.published.has(`${key}#${rec.dispatch}`)) await this.publish(key, rec);
        return;
      }
      const dispatch = (rec?.dispatch ?? 0) + 1;
      const requires = [...job.stage.requires].sort();
      const msg: JobMessage = {
        v: 1,
        runId: job.runId,
        stage: job.stage as unknown as Record<string, unknown>,
        stageName: job.stage.name,
        key: job.key,
        inputs: job.inputs,
        attempt: job.attempt,
        dispatch,
        jobs,
        ticket: newTicket(),
        ...(job.excludeAgents === undefined || job.excludeAgents.length === 0
          ? {}
          : { exclude: job.excludeAgents }),
      };
      const now = this.now();
      // The stage's earlier dispatches (other attempts) stay visible.
      const end: DispatchEnd =
        rec?.t === "finished" ? "finished" : rec?.t === "cancelled" ? "cancelled" : "superseded";
      const next: DispatchRecord = {
        t: "queued",
        dispatch,
        attempt: job.attempt,
        pool: poolName(requires),
        requires,
        job: msg,
        queuedAt: now,
        ...(rec === undefined ? {} : { history: historyWith(rec, end, now) }),
      };
      if (!(await this.write(key, next, cur?.revision))) continue;
      this.waits.track(key, next);
      await this.publish(key, next);
      return;
    }
  }

  private async publish(key: string, rec: DispatchRecord): Promise<void> {
    // The msgId makes a publish tried again after a lost reply a duplicate the stream drops.
    const publish = (): Promise<void> =>
      this.deps.queue.publish(rec.pool, encodeMessage(rec.job), { msgId: `${key}.${rec.dispatch}` });
    const outage = this.deps.outage;
    await (outage === undefined ? publish() : outage.run(`publishing the job of ${key}`, publish));
    this.published.add(`${key}#${rec.dispatch}`);
    this.log.debug({ key, dispatch: rec.dispatch, pool: rec.pool }, "job published");
  }

  /** The claim responder: the lease is granted here, by compare-and-set. */
  async handleClaim(req: ClaimRequest): Promise<ClaimReply> {
    const key = stageKey(req.runId, req.stage);
    for (;;) {
      const cur = await this.read(key);
      const rec = cur?.rec;
      if (cur === undefined || rec === undefined)
        return { ok: false, reason: `no dispatch for ${req.runId}/${req.stage}` };
      if (rec.dispatch !== req.dispatch)
        return { ok: false, reason: `dispatch ${req.dispatch} is stale (current is ${rec.dispatch})` };
      if (rec.job.ticket !== undefined && rec.job.ticket !== req.ticket) {
        this.deps.metrics?.messageRejected?.("bad_ticket");
        this.log.warn(
          { key, dispatch: rec.dispatch, agent: req.agentId, reason: "bad_ticket" },
          `refused a claim by agent ${req.agentId} without the job's ticket: it claims a job it did not receive (a job of a pool it may not read?)`,
        );
        return { ok: false, reason: "the claim does not carry the job's ticket" };
      }
      if (rec.t === "running")
        return rec.owner === req.agentId
          ? { ok: true, token: rec.token, leaseMs: this.deps.leaseMs }
          : { ok: false, reason: `already claimed by ${rec.owner}` };
      if (rec.t !== "queued") return { ok: false, reason: `stage is ${rec.t}` };
      if (this.deps.agents.get(req.agentId)?.state === "draining")
        return { ok: false, reason: "agent is draining" };
      // The second build of a reproducibility check runs on another agent than the first.
      // Agents pass over such a job themselves; this refusal fences one that did not.
      if (rec.job.exclude?.includes(req.agentId) === true)
        return {
          ok: false,
          reason: `agent ${req.agentId} may not run this dispatch (it built the first build)`,
        };
      const token = randomBytes(16).toString("hex");
      const next: DispatchRecord = { ...rec, t: "running", owner: req.agentId, token, claimedAt: this.now() };
      if (!(await this.write(key, next, cur.revision))) continue;
      this.leases.grant(key, { dispatch: rec.dispatch, owner: req.agentId, token });
      this.waits.retrack(key, next);
      this.deps.metrics?.queueWait?.(rec.pool, Math.max(0, next.claimedAt - rec.queuedAt) / 1000);
      this.log.info({ key, dispatch: rec.dispatch, agent: req.agentId }, "stage claimed");
      return { ok: true, token, leaseMs: this.deps.leaseMs };
    }
  }

  /**
   * Heartbeats extend the leases of the stages the agent says it runs (with their tokens), and
   * lose the stages it owns but no longer lists.
   */
  handleHeartbeat(hb: Heartbeat): void {
    this.deps.agents.heartbeat(hb);
    this.applyHeartbeat(hb);
  }

  private applyHeartbeat(hb: Heartbeat): void {
    const listed = new Set<string>();
    // A stage whose outcome is on the event stream is not lost: its result is on its way.
    for (const r of [...hb.running, ...(hb.reported ?? [])]) {
      const key = stageKey(r.runId, r.stage);
      listed.add(key);
      const due = this.leases.extend(key, hb.agentId, r.token, r.dispatch);
      if (due !== undefined) this.persistRenewal(key, due);
    }
    for (const [key, lease] of this.leases.omitted(hb.agentId, listed)) {
      if (this.losing.has(key)) continue;
      this.losing.add(key);
      this.lose(key, lease)
        .catch((err: unknown) =>
          this.log.error({ key, err: StagefarmError.from(err) }, "handling a lost stage failed"),
        )
        .finally(() => this.losing.delete(key));
    }
  }

  /** Writes a lease's renewal into its running record (compare-and-set; skipped on a conflict). */
  private persistRenewal(key: string, lease: Lease): void {
    if (this.renewing.has(key)) return;
    this.renewing.add(key);
    const at = this.now();
    (async () => {
      const cur = await this.readLeased(key, lease);
      if (cur === undefined) return;
      if (await this.write(key, { ...cur.rec, renewedAt: at }, cur.revision))
        this.leases.persisted(lease, at);
    })()
      .catch((err: unknown) =>
        this.log.warn({ key, err: StagefarmError.from(err) }, "writing a lease renewal failed"),
      )
      .finally(() => this.renewing.delete(key));
  }

  /**
   * Rebuilds the lease of a running record found in KV (a restarted coordinator) from its last
   * renewal, then applies the owner's last heartbeat if this coordinator has heard one.
   */
  private restoreLease(key: string, rec: Extract<DispatchRecord, { t: "running" }>): void {
    const lease = this.leases.restore(
      key,
      { dispatch: rec.dispatch, owner: rec.owner, token: rec.token },
      rec.claimedAt,
      rec.renewedAt ?? rec.claimedAt,
    );
    this.log.info(
      { key, dispatch: rec.dispatch, agent: rec.owner, until: new Date(lease.until).toISOString() },
      "lease restored from KV",
    );
    const owner = this.deps.agents.get(rec.owner);
    if (owner !== undefined && this.deps.agents.isOnline(rec.owner)) this.applyHeartbeat(owner.hb);
  }

  /** The owner's heartbeat no longer lists the stage: dispatch it again now. */
  private async lose(key: string, lease: Lease): Promise<void> {
    const cur = await this.readLeased(key, lease);
    if (cur === undefined) {
      this.leases.release(key, lease);
      return;
    }
    await this.redispatch(
      key,
      cur.rec,
      cur.revision,
      `agent ${cur.rec.owner} lost it (its heartbeat no longer lists the stage)`,
      "agent_lost",
    );
  }

  /** Applies an agent event; returns whether it was accepted (false: stale or unknown, counted). */
  async handleEvent(ev: AgentEvent): Promise<boolean> {
    if (ev.t === "started") return true;
    if (ev.t === "released") return this.handleRelease(ev.agentId, ev.runId, ev.stage, ev.dispatch, ev.token);
    const key = stageKey(ev.runId, ev.stage);
    for (;;) {
      const cur = await this.read(key);
      const rec = cur?.rec;
      // The same result delivered again (the coordinator restarted before acking it): already applied.
      if (rec?.t === "finished" && rec.dispatch === ev.dispatch && rec.owner === ev.agentId) {
        this.waits.settle(key, rec.attempt, rec.result, rec.owner);
        return true;
      }
      if (
        cur === undefined ||
        rec === undefined ||
        rec.t !== "running" ||
        rec.dispatch !== ev.dispatch ||
        rec.owner !== ev.agentId ||
        rec.token !== ev.token
      ) {
        this.deps.metrics?.staleResult();
        this.log.warn(
          {
            key,
            agent: ev.agentId,
            dispatch: ev.dispatch,
            current: rec === undefined ? "none" : `${rec.t}#${rec.dispatch}`,
          },
          "rejected a result from an agent that does not own the current dispatch",
        );
        return false;
      }
      const next: DispatchRecord = {
        t: "finished",
        dispatch: rec.dispatch,
        attempt: rec.attempt,
        pool: rec.pool,
        requires: rec.requires,
        job: rec.job,
        owner: rec.owner,
        result: ev.result,
        finishedAt: this.now(),
        queuedAt: rec.queuedAt,
        claimedAt: rec.claimedAt,
        ...(rec.history === undefined ? {} : { history: rec.history }),
      };
      if (!(await this.write(key, next, cur.revision))) continue;
      this.leases.release(key);
      this.waits.untrack(key);
      this.waits.settle(key, rec.attempt, ev.result, ev.agentId);
      return true;
    }
  }

  /** An agent handing a claimed stage back (draining): dispatch again at once. */
  async handleRelease(
    agentId: string,
    runId: string,
    stage: string,
    dispatch: number,
    token: string,
  ): Promise<boolean> {
    const key = stageKey(runId, stage);
    const cur = await this.readLeased(key, { dispatch, token });
    if (cur === undefined || cur.rec.owner !== agentId) return false;
    return this.redispatch(key, cur.rec, cur.revision, "handed back by its agent", "handed_back");
  }

  /** Makes a new dispatch for every running stage whose lease expired. */
  async checkLeases(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.expireLeases();
    } finally {
      this.checking = false;
    }
  }

  private async expireLeases(): Promise<void> {
    for (const [key, lease] of this.leases.expired()) {
      const cur = await this.readLeased(key, lease);
      if (cur === undefined) {
        this.leases.release(key, lease);
        continue;
      }
      this.deps.metrics?.leaseExpired();
      await this.redispatch(key, cur.rec, cur.revision, `lease of ${cur.rec.owner} expired`, "lease_expired");
    }
  }

  private async redispatch(
    key: string,
    rec: Extract<DispatchRecord, { t: "running" }>,
    revision: number,
    why: string,
    end: DispatchEnd,
  ): Promise<boolean> {
    const dispatch = rec.dispatch + 1;
    const now = this.now();
    const next: DispatchRecord = {
      t: "queued",
      dispatch,
      attempt: rec.attempt,
      pool: rec.pool,
      requires: rec.requires,
      job: { ...rec.job, dispatch, ticket: newTicket() },
      queuedAt: now,
      history: historyWith(rec, end, now),
    };
    if (!(await this.write(key, next, revision))) return false;
    this.leases.release(key);
    this.waits.retrack(key, next);
    this.log.warn(
      { key, dispatch, previousOwner: rec.owner, reason: end, heldForMs: now - rec.claimedAt },
      `stage dispatched again: ${why}`,
    );
    await this.publish(key, next);
    return true;
  }

  /** Cancels the current dispatch of a stage (run cancelled): tells its agent, fails the waiter. */
  async cancel(runId: string, stage: string, attempt: number): Promise<void> {
    const key = stageKey(runId, stage);
    let owner: string | undefined;
    for (;;) {
      const cur = await this.read(key);
      const rec = cur?.rec;
      if (
        cur !== undefined &&
        rec !== undefined &&
        rec.attempt === attempt &&
        (rec.t === "queued" || rec.t === "running")
      ) {
        owner = rec.t === "running" ? rec.owner : undefined;
        const next: DispatchRecord = {
          t: "cancelled",
          dispatch: rec.dispatch,
          attempt: rec.attempt,
          pool: rec.pool,
          requires: rec.requires,
          job: rec.job,
          at: this.now(),
          queuedAt: rec.queuedAt,
          ...(rec.t === "running" ? { owner: rec.owner, claimedAt: rec.claimedAt } : {}),
          ...(rec.history === undefined ? {} : { history: rec.history }),
        };
        if (!(await this.write(key, next, cur.revision))) continue;
        this.leases.release(key);
        this.waits.untrack(key);
        if (rec.t === "running")
          this.deps.bus.publish(
            this.deps.subjects.control(rec.owner),
            encodeMessage({ t: "cancel", runId, stage, dispatch: rec.dispatch }),
          );
      }
      break;
    }
    // The agent that was running it goes with the cancellation (the run's attempt history).
    const details = owner === undefined ? {} : { agent: owner };
    this.waits.reject(key, new StagefarmError("cancelled", `stage ${stage} cancelled`, { details }), attempt);
  }

  /** Stops waiting for results without touching KV (the next coordinator resumes the runs). */
  shutdown(): void {
    this.stopping = true;
    this.waits.rejectAll(new StagefarmError("unavailable", "coordinator shutting down"));
  }

  /** Stages queued for a pool, with the reason they wait (for the API and metrics). */
  queuedReason(rec: DispatchRecord): string | undefined {
    return rec.t === "queued" ? this.deps.agents.waitingReason(rec.requires, rec.job.exclude) : undefined;
  }

  async record(runId: string, stage: string): Promise<DispatchRecord | undefined> {
    return (await this.read(stageKey(runId, stage)))?.rec;
  }

  /** The running record `key` holds under this dispatch and token, with its revision; undefined once it moved on. */
  private async readLeased(
    key: string,
    lease: { dispatch: number; token: string },
  ): Promise<{ rec: Extract<DispatchRecord, { t: "running" }>; revision: number } | undefined> {
    const cur = await this.read(key);
    const rec = cur?.rec;
    if (
      cur === undefined ||
      rec?.t !== "running" ||
      rec.dispatch !== lease.dispatch ||
      rec.token !== lease.token
    )
      return undefined;
    return { rec, revision: cur.revision };
  }

  private read(key: string): Promise<ReadRecord | undefined> {
    return this.records.read(key);
  }

  private write(key: string, rec: DispatchRecord, revision: number | undefined): Promise<boolean> {
    return this.records.write(key, rec, revision);
  }
}

/** The secret a claim must repeat: only agents that received the job know it. */
function newTicket(): string {
  return randomBytes(16).toString("hex");
}
