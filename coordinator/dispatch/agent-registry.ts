/**
 * The agents the coordinator has heard from, kept from their heartbeats. Answers "why is this
 * stage not running" (no agent with the labels; all matching agents busy) and feeds the
 * agents API and metrics. An agent is offline once no heartbeat came for `offlineAfterMs`.
 */
import type { Heartbeat } from "../../shared/protocol/messages.js";

export type AgentState = "idle" | "busy" | "draining" | "offline";

/** Why a queued stage waits: no online agent has its labels; all that do are busy; or neither. */
export type QueuedReason = "no_matching_agent" | "agents_busy" | "queued";

export interface AgentInfo {
  hb: Heartbeat;
  lastSeen: number;
  state: AgentState;
  /** Set by a drain request until the agent reports draining itself. */
  drainRequested: boolean;
}

export class AgentRegistry {
  private readonly agents = new Map<string, { hb: Heartbeat; lastSeen: number; drainRequested: boolean }>();

  constructor(
    private readonly offlineAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  heartbeat(hb: Heartbeat): void {
    const prev = this.agents.get(hb.agentId);
    this.agents.set(hb.agentId, {
      hb,
      lastSeen: this.now(),
      drainRequested: prev?.drainRequested === true && !hb.draining,
    });
  }

  requestDrain(agentId: string): boolean {
    const a = this.agents.get(agentId);
    if (a === undefined) return false;
    a.drainRequested = true;
    return true;
  }

  /**
   * Ends a drain request: the agent counts as not draining until its heartbeat says otherwise
   * (its next one, sent as it takes work again), so its claims are not refused meanwhile.
   */
  requestUndrain(agentId: string): boolean {
    const a = this.agents.get(agentId);
    if (a === undefined) return false;
    a.drainRequested = false;
    a.hb = { ...a.hb, draining: false };
    return true;
  }

  get(agentId: string): AgentInfo | undefined {
    const a = this.agents.get(agentId);
    return a === undefined ? undefined : this.info(a);
  }

  list(): AgentInfo[] {
    return [...this.agents.values()]
      .map((a) => this.info(a))
      .sort((x, y) => x.hb.agentId.localeCompare(y.hb.agentId));
  }

  isOnline(agentId: string): boolean {
    const a = this.agents.get(agentId);
    return a !== undefined && this.now() - a.lastSeen <= this.offlineAfterMs;
  }

  /**
   * Why a queued stage needing `requires` has not been picked up. `exclude`: agents that may not
   * run it (the first build's agent, for the second build of a reproducibility check).
   */
  waitingReason(requires: readonly string[], exclude: readonly string[] = []): string {
    const why = this.queuedReason(requires, exclude);
    const labels = requires.length === 0 ? "(any)" : requires.join(",");
    if (why.kind === "no_matching_agent" && exclude.length > 0 && this.queuedReason(requires).matching > 0)
      return `waiting for an agent other than ${exclude.join(", ")} (the first build's) with labels ${labels}: only ${exclude.length === 1 ? "it" : "they"} can run it now`;
    if (why.kind === "no_matching_agent") return `no agent with labels ${labels}`;
    if (why.kind === "agents_busy") return `all matching agents busy (${why.matching} with labels ${labels})`;
    return "queued";
  }

  /** The reason of {@link waitingReason} as a fixed kind (a metric label), with the matching agents. */
  queuedReason(
    requires: readonly string[],
    exclude: readonly string[] = [],
  ): { kind: QueuedReason; matching: number } {
    const matching = this.list().filter(
      (a) =>
        a.state !== "offline" &&
        !exclude.includes(a.hb.agentId) &&
        requires.every((l) => a.hb.labels.includes(l)),
    );
    if (matching.length === 0) return { kind: "no_matching_agent", matching: 0 };
    const free = matching.filter(
      (a) => a.state === "idle" || (a.state === "busy" && a.hb.running.length < a.hb.slots),
    );
    return { kind: free.length === 0 ? "agents_busy" : "queued", matching: matching.length };
  }

  private info(a: { hb: Heartbeat; lastSeen: number; drainRequested: boolean }): AgentInfo {
    const offline = this.now() - a.lastSeen > this.offlineAfterMs;
    const state: AgentState = offline
      ? "offline"
      : a.hb.draining || a.drainRequested
        ? "draining"
        : a.hb.running.length > 0
          ? "busy"
          : "idle";
    return { hb: a.hb, lastSeen: a.lastSeen, state, drainRequested: a.drainRequested };
  }
}
