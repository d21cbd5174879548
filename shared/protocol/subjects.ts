/** NATS subject names of the protocol, under a configurable prefix (tests use a fresh one). */
export interface Subjects {
  jobs(pool: string): string;
  claim: string;
  heartbeat(agentId: string): string;
  heartbeats: string;
  events(agentId: string): string;
  logs(runId: string, stage: string): string;
  control(agentId: string): string;
  /** Request/reply: an agent asks the coordinator to publish uploaded packages (./binhost.ts). */
  binhostPublish: string;
  /** Request/reply: the binrepos.conf stanza of a binhost. */
  binhostConf: string;
}

export function subjects(prefix = "sf"): Subjects {
  return {
    jobs: (pool) => `${prefix}.jobs.${pool}`,
    claim: `${prefix}.claim`,
    heartbeat: (a) => `${prefix}.hb.${a}`,
    heartbeats: `${prefix}.hb.*`,
    events: (a) => `${prefix}.events.${a}`,
    logs: (r, s) => `${prefix}.logs.${r}.${s}`,
    control: (a) => `${prefix}.control.${a}`,
    binhostPublish: `${prefix}.binhost.publish`,
    binhostConf: `${prefix}.binhost.conf`,
  };
}
