/**
 * The NATS permissions of a farm's users, and their nats-server configuration blocks
 * (deploy/nats/stagefarm-users.conf is made of these; a unit test keeps the two equal).
 *
 * - The coordinator may use everything of its farm: the subjects under the prefix, its KV
 *   bucket, the JetStream API of the farm's three streams (create, update, consumers, reads),
 *   acks and flow control on them, and replies to agents' inboxes (`_INBOX.<prefix>.…`).
 * - An agent publishes only on subjects carrying its id (claims, heartbeats, events, live logs,
 *   binhost requests) and receives only its control subject, its pools' job subjects and its
 *   own inbox (`_INBOX.<prefix>.agent.<id>`). Of the JetStream API it gets exactly what pulling
 *   from its pools' consumers needs: `$JS.API.INFO`, STREAM.INFO of the job and event streams
 *   (existence checks; the job stream's per-subject counts say which of its pools hold jobs),
 *   CONSUMER.INFO and CONSUMER.MSG.NEXT of each pool's durable consumer and `$JS.ACK` on it.
 *   It creates no stream or consumer (the coordinator does, before the first job of a pool),
 *   reads no KV and no other pool. Its events are JetStream publishes on its events subject;
 *   the stream's acknowledgement comes back to its inbox.
 */
import { poolsFor } from "../protocol/pools.js";
import { subjects } from "../protocol/subjects.js";
import { eventStreamName, jobConsumerName, jobStreamName, kvBucketName, kvStreamName } from "./names.js";

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** What the coordinator of the farm `prefix` may publish and subscribe to. */
export function coordinatorPermissions(prefix: string): NatsPermissions {
  const s = subjects(prefix);
  const bucket = kvBucketName(prefix);
  const streams = [jobStreamName(prefix), eventStreamName(prefix), kvStreamName(bucket)];
  const jsApi = streams.flatMap((stream) => [
    `$JS.API.STREAM.*.${stream}`, // INFO, CREATE, UPDATE, DELETE, PURGE
    `$JS.API.STREAM.MSG.*.${stream}`, // MSG.GET, MSG.DELETE
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.*.${stream}`, // LIST, NAMES, CREATE (ephemeral)
    `$JS.API.CONSUMER.*.${stream}.>`, // CREATE.<stream>.<name>[.<filter>], INFO, DELETE
    `$JS.API.CONSUMER.*.*.${stream}.>`, // DURABLE.CREATE, MSG.NEXT
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`, // flow control of ordered consumers (KV watches)
  ]);
  return {
    publish: [`${prefix}.>`, `$KV.${bucket}.>`, `_INBOX.${prefix}.>`, "$JS.API.INFO", ...jsApi],
    subscribe: [`${prefix}.>`, `${s.inbox()}.>`],
  };
}

/** What the agent `agentId` with these labels may publish and subscribe to. */
export function agentPermissions(
  prefix: string,
  agentId: string,
  labels: readonly string[],
): NatsPermissions {
  const s = subjects(prefix, agentId);
  const jobs = jobStreamName(prefix);
  const pools = poolsFor(labels);
  const consumers = pools.map((pool) => jobConsumerName(prefix, pool));
  return {
    publish: [
      s.claim(agentId),
      s.heartbeat(agentId),
      s.events(agentId),
      s.agentLogs(agentId, "*", "*"),
      s.binhostPublish,
      s.binhostConf,
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${jobs}`,
      `$JS.API.STREAM.INFO.${eventStreamName(prefix)}`,
      ...consumers.flatMap((c) => [
        `$JS.API.CONSUMER.INFO.${jobs}.${c}`,
        `$JS.API.CONSUMER.MSG.NEXT.${jobs}.${c}`,
        `$JS.ACK.${jobs}.${c}.>`,
      ]),
    ],
    subscribe: [s.control(agentId), ...pools.map((pool) => s.jobs(pool)), `${s.inbox(agentId)}.>`],
  };
}

export type NatsUser =
  | { role: "coordinator"; prefix: string; nkey: string }
  | { role: "agent"; prefix: string; nkey: string; agentId: string; labels: readonly string[] };

/** The nats-server configuration block of one user (an element of an account's `users` list). */
export function natsUserBlock(user: NatsUser, indent = "      "): string {
  const perms =
    user.role === "coordinator"
      ? coordinatorPermissions(user.prefix)
      : agentPermissions(user.prefix, user.agentId, user.labels);
  const title =
    user.role === "coordinator"
      ? `# The coordinator of farm "${user.prefix}".`
      : `# Agent ${user.agentId} of farm "${user.prefix}", labels ${[...new Set(user.labels)].sort().join(",") || "(none)"}.`;
  const list = (items: string[]): string[] => items.map((i) => `${indent}      ${JSON.stringify(i)}`);
  return [
    `${indent}${title}`,
    `${indent}{`,
    `${indent}  nkey: ${user.nkey}`,
    `${indent}  permissions: {`,
    `${indent}    publish: { allow: [`,
    ...list(perms.publish),
    `${indent}    ] }`,
    `${indent}    subscribe: { allow: [`,
    ...list(perms.subscribe),
    `${indent}    ] }`,
    `${indent}  }`,
    `${indent}}`,
  ].join("\n");
}
