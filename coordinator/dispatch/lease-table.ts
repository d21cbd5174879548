/**
 * The coordinator's in-memory leases: which agent holds which stage's current dispatch, with
 * which token, until when. Heartbeats extend a lease only when agent, token and dispatch all
 * match; KV holds the authoritative record, this holds the deadlines (after a restart they
 * start afresh from the records).
 */
export interface Lease {
  dispatch: number;
  owner: string;
  token: string;
  until: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  has(key: string): boolean {
    return this.leases.has(key);
  }

  /** Grants (or re-grants) a lease for `ttlMs` from now. */
  grant(key: string, l: Omit<Lease, "until">): void {
    this.leases.set(key, { ...l, until: this.now() + this.ttlMs });
  }

  /** Extends the lease when `owner` still holds `key` with this token and dispatch. */
  extend(key: string, owner: string, token: string, dispatch: number): void {
    const l = this.leases.get(key);
    if (l !== undefined && l.owner === owner && l.token === token && l.dispatch === dispatch)
      l.until = this.now() + this.ttlMs;
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
