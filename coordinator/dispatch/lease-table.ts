/**
 * The coordinator's leases: which agent holds which stage's current dispatch, with which token,
 * until when. KV holds the authoritative record; this holds the deadlines, and the deadlines are
 * state too: each running record keeps its last renewal (`renewedAt`), written through at most
 * every quarter TTL, so a restarted coordinator rebuilds a lease's clock from it instead of
 * granting a fresh one.
 *
 * - grant: a claim (or a lease found in KV, {@link LeaseTable.restore}) starts the clock;
 * - extend: a heartbeat naming the stage with the owner's token and dispatch renews it, and says
 *   when the renewal is due to be written to KV;
 * - omitted: a heartbeat of the owner that does not name the stage (beyond a grace for a claim
 *   still in flight to the agent) means the agent no longer runs it: the stage is lost at once;
 * - expired: no renewal for a TTL.
 */
export interface Lease {
  dispatch: number;
  owner: string;
  token: string;
  /** Deadline (ms). */
  until: number;
  /** When the claim was granted (ms): a heartbeat sent before it arrived may not list the stage. */
  grantedAt: number;
  /** Last renewal known to be in KV (ms). */
  persistedAt: number;
}

export interface LeaseTimes {
  /** Lease TTL: a lease not renewed for this long expires. */
  ttlMs: number;
  /** A heartbeat omitting a stage claimed less than this long ago does not release it. */
  claimGraceMs: number;
  /** A lease rebuilt from KV lasts at least this long from the rebuild (time for a first heartbeat). */
  restoreGraceMs: number;
}

/** Defaults derived from the TTL: heartbeats are expected at least every third of it. */
export function leaseTimes(ttlMs: number, o: Partial<LeaseTimes> = {}): LeaseTimes {
  const third = Math.max(1, Math.floor(ttlMs / 3));
  return {
    ttlMs,
    claimGraceMs: o.claimGraceMs ?? Math.min(third, 3000),
    restoreGraceMs: o.restoreGraceMs ?? Math.min(third, 10_000),
  };
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private readonly times: LeaseTimes;

  constructor(
    times: LeaseTimes | number,
    private readonly now: () => number,
  ) {
    this.times = typeof times === "number" ? leaseTimes(times) : times;
  }

  has(key: string): boolean {
    return this.leases.has(key);
  }

  get(key: string): Lease | undefined {
    return this.leases.get(key);
  }

  /** Grants (or re-grants) a lease for a TTL from now (a claim). */
  grant(key: string, l: Pick<Lease, "dispatch" | "owner" | "token">): Lease {
    const now = this.now();
    const lease = { ...l, until: now + this.times.ttlMs, grantedAt: now, persistedAt: now };
    this.leases.set(key, lease);
    return lease;
  }

  /**
   * Rebuilds a lease from its KV record (after a restart): it ends a TTL after its last renewal,
   * but not before `restoreGraceMs` from now, so a live owner has time for a heartbeat.
   */
  restore(
    key: string,
    l: Pick<Lease, "dispatch" | "owner" | "token">,
    claimedAt: number,
    renewedAt: number,
  ): Lease {
    const now = this.now();
    const until = Math.max(renewedAt + this.times.ttlMs, now + this.times.restoreGraceMs);
    const lease = { ...l, until, grantedAt: claimedAt, persistedAt: renewedAt };
    this.leases.set(key, lease);
    return lease;
  }

  /**
   * Extends the lease when `owner` still holds `key` with this token and dispatch. Returns the
   * lease when its renewal is due to be written to KV (a quarter TTL since the last write).
   */
  extend(key: string, owner: string, token: string, dispatch: number): Lease | undefined {
    const l = this.leases.get(key);
    if (l === undefined || l.owner !== owner || l.token !== token || l.dispatch !== dispatch)
      return undefined;
    const now = this.now();
    l.until = now + this.times.ttlMs;
    return now - l.persistedAt >= this.times.ttlMs / 4 ? l : undefined;
  }

  /** Notes that a renewal at `at` is in KV. */
  persisted(l: Lease, at: number): void {
    if (at > l.persistedAt) l.persistedAt = at;
  }

  /**
   * The leases `owner` holds that its heartbeat does not list (`listed`: stage keys), claimed
   * longer than the claim grace ago: the agent no longer runs them.
   */
  omitted(owner: string, listed: ReadonlySet<string>): Array<[string, Lease]> {
    const before = this.now() - this.times.claimGraceMs;
    return [...this.leases].filter(([k, l]) => l.owner === owner && !listed.has(k) && l.grantedAt <= before);
  }

  /** Removes the lease; with `only`, only if it is still that lease (not a newer grant). */
  release(key: string, only?: Lease): void {
    if (only === undefined || this.leases.get(key) === only) this.leases.delete(key);
  }

  /** Leases whose deadline has passed, as a snapshot. */
  expired(): Array<[string, Lease]> {
    const now = this.now();
    return [...this.leases].filter(([, l]) => l.until <= now);
  }
}
