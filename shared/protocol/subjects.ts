/** NATS subject names of the protocol, under a configurable prefix (tests use a fresh one). */
export interface Subjects {
  jobs(pool: string): string;
  claim: string;
  heartbeat(agentId: string): string;
  heartbeats: string;
  events(agentId: string): string;
  logs(runId: string, stage: string): string;
  control(agentId: string): string;
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
  };
}
