/**
 * NATS subject names of the protocol, under a configurable prefix (one token; tests use a fresh
 * one). Every subject an agent publishes on carries its id at a fixed position, so that NATS
 * permissions can tie it to the agent's user and the coordinator can bind each message to it:
 *
 *   <prefix>.claim.<agent>                  request/reply: claims (the lease)
 *   <prefix>.hb.<agent>                     heartbeats
 *   <prefix>.events.<agent>                 started/finished/released (JetStream, durable)
 *   <prefix>.logs.<agent>.<run>.<stage>     live log chunks
 *   <prefix>.binhost.publish.<agent>        request/reply: binhost publications (./binhost.ts)
 *   <prefix>.binhost.conf.<agent>           request/reply: a binhost's binrepos.conf stanza
 *
 * and it receives only on subjects of its own or of its pools:
 *
 *   <prefix>.jobs.<pool>                    the work queue (read through JetStream consumers)
 *   <prefix>.control.<agent>                cancel, drain
 *   _INBOX.<prefix>.agent.<agent>.…         replies to its requests (its inbox prefix)
 *
 * `agentOf(subject)` reads the id back. The binhost subjects keep an unbound form
 * (`<prefix>.binhost.publish`, no id) for processes without an agent identity; the shipped NATS
 * permissions grant it to no agent (deploy/nats/).
 */
export interface Subjects {
  readonly prefix: string;
  jobs(pool: string): string;
  /** Where `agentId` sends its claims (request/reply). */
  claim(agentId: string): string;
  /** Every agent's claims (the coordinator's responder). */
  claims: string;
  heartbeat(agentId: string): string;
  heartbeats: string;
  /** The NATS subject of an agent's events; on the EventLog port the event subject is the agent id. */
  events(agentId: string): string;
  /** The live log of a stage from any agent (a pattern; `stage` may be `*`): for watchers. */
  logs(runId: string, stage: string): string;
  /** Where `agentId` publishes a stage's live log. */
  agentLogs(agentId: string, runId: string, stage: string): string;
  control(agentId: string): string;
  /**
   * Request/reply: the binhost publications of this process (./binhost.ts): carries the agent
   * id when these subjects were made for an agent (`subjects(prefix, agentId)`).
   */
  binhostPublish: string;
  /** Request/reply: the binrepos.conf stanza of a binhost (bound like `binhostPublish`). */
  binhostConf: string;
  /** Every agent's binhost publications and conf requests (the coordinator's responders). */
  binhostPublishAll: string;
  binhostConfAll: string;
  /** The inbox prefix of an agent (its replies), or of the coordinator without an id. */
  inbox(agentId?: string): string;
  /** The agent id carried by an agent's subject (claim, hb, events, logs, binhost), if any. */
  agentOf(subject: string): string | undefined;
}

const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function subjects(prefix = "sf", agentId?: string): Subjects {
  const bound = agentId === undefined ? "" : `.${agentId}`;
  return {
    prefix,
    jobs: (pool) => `${prefix}.jobs.${pool}`,
    claim: (a) => `${prefix}.claim.${a}`,
    claims: `${prefix}.claim.*`,
    heartbeat: (a) => `${prefix}.hb.${a}`,
    heartbeats: `${prefix}.hb.*`,
    events: (a) => `${prefix}.events.${a}`,
    logs: (r, s) => `${prefix}.logs.*.${r}.${s}`,
    agentLogs: (a, r, s) => `${prefix}.logs.${a}.${r}.${s}`,
    control: (a) => `${prefix}.control.${a}`,
    binhostPublish: `${prefix}.binhost.publish${bound}`,
    binhostConf: `${prefix}.binhost.conf${bound}`,
    binhostPublishAll: `${prefix}.binhost.publish.*`,
    binhostConfAll: `${prefix}.binhost.conf.*`,
    inbox: (a) => (a === undefined ? `_INBOX.${prefix}.coordinator` : `_INBOX.${prefix}.agent.${a}`),
    agentOf: (subject) => agentOfSubject(prefix, subject),
  };
}

function agentOfSubject(prefix: string, subject: string): string | undefined {
  const t = subject.split(".");
  if (t[0] !== prefix) return undefined;
  let id: string | undefined;
  if ((t[1] === "claim" || t[1] === "hb" || t[1] === "events") && t.length === 3) id = t[2];
  else if (t[1] === "logs" && t.length === 5) id = t[2];
  else if (t[1] === "binhost" && (t[2] === "publish" || t[2] === "conf") && t.length === 4) id = t[3];
  return id !== undefined && AGENT_ID.test(id) ? id : undefined;
}
