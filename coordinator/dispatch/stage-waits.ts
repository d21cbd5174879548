/**
 * What the dispatcher waits for: one waiter per stage key (the engine's `execute` call for one
 * attempt), settled by the accepted result of that attempt, and the stages as the metrics and
 * the dashboard see them (queued in a pool, or claimed by an agent since when).
 */
import { isErrorCode, StagefarmError } from "../../shared/errors.js";
import type { StageResult } from "../../shared/job.js";
import type { AgentInfo, AgentRegistry, QueuedReason } from "./agent-registry.js";
import type { DispatchRecord, DispatchResult } from "./dispatch-record.js";

/** What the dispatcher holds right now (read by metrics at scrape time). */
export interface DispatchSnapshot {
  agents: AgentInfo[];
  /** Stages published and not claimed yet, by stage key: their pool and why they wait. */
  queued: Map<string, { pool: string; reason: QueuedReason }>;
  /** Stages an agent claimed, by stage key: when. */
  claimed: Map<string, number>;
}

/** A stage this coordinator waits for: queued in a pool, or claimed by an agent. */
type Tracked =
  { t: "queued"; pool: string; requires: string[]; exclude: string[] } | { t: "claimed"; at: number };

interface Waiter {
  attempt: number;
  resolve(r: StageResult): void;
  reject(e: StagefarmError): void;
}

export class StageWaits {
  private readonly waiters = new Map<string, Waiter>();
  private readonly tracked = new Map<string, Tracked>();

  /** Waits for the result of `attempt` of the stage `key`. */
  wait(key: string, attempt: number): Promise<StageResult> {
    return new Promise<StageResult>((resolve, reject) => {
      this.waiters.set(key, { attempt, resolve, reject });
    });
  }

  /** Ends the wait for `key` (whatever its outcome) and stops tracking it. */
  forget(key: string): void {
    this.waiters.delete(key);
    this.tracked.delete(key);
  }

  /** Fails the wait for `key` (only for `attempt`, when given). */
  reject(key: string, err: StagefarmError, attempt?: number): void {
    const w = this.waiters.get(key);
    if (w !== undefined && (attempt === undefined || w.attempt === attempt)) w.reject(err);
  }

  rejectAll(err: StagefarmError): void {
    for (const w of this.waiters.values()) w.reject(err);
  }

  /** Resolves (or fails) the wait for `attempt` with the result its owner reported. */
  settle(key: string, attempt: number, result: DispatchResult, owner: string): void {
    const w = this.waiters.get(key);
    if (w === undefined || w.attempt !== attempt) return;
    if (result.ok)
      w.resolve({
        outputs: result.outputs,
        logPath: result.logPath,
        durationMs: result.durationMs,
        producer: owner,
      });
    else {
      const code = isErrorCode(result.error.code) ? result.error.code : "internal";
      // The agent goes with the failure: a run's attempt history names where each one ran.
      w.reject(
        new StagefarmError(code, result.error.message, {
          details: { ...result.error.details, agent: owner },
        }),
      );
    }
  }

  /** Follows the record's state: queued, claimed, or no longer waited for. */
  track(key: string, rec: DispatchRecord): void {
    if (rec.t === "queued")
      this.tracked.set(key, {
        t: "queued",
        pool: rec.pool,
        requires: rec.requires,
        exclude: rec.job.exclude ?? [],
      });
    else if (rec.t === "running") this.tracked.set(key, { t: "claimed", at: rec.claimedAt });
    else this.tracked.delete(key);
  }

  /** Follows the record only if the stage is already followed. */
  retrack(key: string, rec: DispatchRecord): void {
    if (this.tracked.has(key)) this.track(key, rec);
  }

  untrack(key: string): void {
    this.tracked.delete(key);
  }

  snapshot(agents: AgentRegistry): DispatchSnapshot {
    const queued = new Map<string, { pool: string; reason: QueuedReason }>();
    const claimed = new Map<string, number>();
    for (const [key, t] of this.tracked)
      if (t.t === "queued")
        queued.set(key, { pool: t.pool, reason: agents.queuedReason(t.requires, t.exclude).kind });
      else claimed.set(key, t.at);
    return { agents: agents.list(), queued, claimed };
  }
}
