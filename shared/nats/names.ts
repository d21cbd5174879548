/**
 * Names of the JetStream resources behind the ports, all derived from one configurable prefix
 * (default `sf`) so that several farms, or several tests, share a server without sharing data:
 *
 *   jobs:   stream `<PREFIX>_JOBS`, subjects `<prefix>.jobs.<pool>`, durable `<prefix>_jobs_<pool>` per pool
 *   events: stream `<PREFIX>_EVENTS`, subjects `<prefix>.events.<subject>`, durables named by readers
 *   state:  KV bucket `<prefix>_state` (stream `KV_<prefix>_state`)
 */
import { createHash } from "node:crypto";
import { StagefarmError } from "../errors.js";

export const DEFAULT_PREFIX = "sf";

const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;

/** Throws `invalid_argument` unless `prefix` is 1-32 letters, digits, "_" or "-". */
export function assertNamePrefix(prefix: string): void {
  if (!PREFIX.test(prefix))
    throw new StagefarmError(
      "invalid_argument",
      `invalid JetStream name prefix "${prefix}": use 1-32 letters, digits, "_" or "-"`,
    );
}

export function jobStreamName(prefix: string): string {
  return `${prefix.toUpperCase()}_JOBS`;
}

export function jobSubject(prefix: string, pool: string): string {
  return `${prefix}.jobs.${pool}`;
}

/**
 * The durable consumer of a pool. Consumer names allow only `[A-Za-z0-9_-]`, so the pool's
 * other characters (and `_`) are escaped as `_HH`; overlong names become a hash.
 */
export function jobConsumerName(prefix: string, pool: string): string {
  const escaped = pool.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const name = `${prefix}_jobs_${escaped}`;
  if (name.length <= 200) return name;
  return `${prefix}_jobs_h${createHash("sha256").update(pool).digest("hex").slice(0, 32)}`;
}

export function eventStreamName(prefix: string): string {
  return `${prefix.toUpperCase()}_EVENTS`;
}

export function eventSubjectPrefix(prefix: string): string {
  return `${prefix}.events`;
}

/** The farm's KV bucket (runs and dispatch records). */
export function kvBucketName(prefix: string): string {
  return `${prefix}_state`;
}

/** The stream behind a KV bucket. */
export function kvStreamName(bucket: string): string {
  return `KV_${bucket}`;
}
