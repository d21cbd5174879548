/**
 * Idempotent set-up of JetStream streams, consumers and KV buckets: create when missing,
 * update the editable settings that differ, and fail clearly on a setting that cannot change
 * (retention, storage). Safe to call at every start of every process. Processes that may not
 * manage streams (agents under NATS permissions) wait for them instead (`waitForStream`).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type {
  ConsumerConfig,
  ConsumerInfo,
  JetStreamClient,
  JetStreamManager,
  KV,
  KvOptions,
  StreamConfig,
  StreamInfo,
} from "nats";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import { fromNats, isNotFound } from "./errors.js";

/** The settings a stagefarm stream declares; the rest keep the server's defaults. */
export type StreamSpec = Pick<StreamConfig, "name" | "subjects" | "retention" | "storage"> &
  Partial<Pick<StreamConfig, "max_age" | "duplicate_window" | "description" | "num_replicas">>;

/** The settings a stagefarm durable consumer declares. */
export type ConsumerSpec = { durable_name: string } & Pick<ConsumerConfig, "ack_policy" | "deliver_policy"> &
  Partial<Pick<ConsumerConfig, "filter_subject" | "ack_wait" | "max_ack_pending" | "description">>;

/** Settings brought to the spec on an existing stream (a replica change moves a stream onto a cluster). */
const EDITABLE_STREAM = ["max_age", "duplicate_window", "description", "num_replicas"] as const;
const EDITABLE_CONSUMER = ["ack_wait", "max_ack_pending", "description"] as const;

/** Creates the stream, or brings an existing one to `spec`. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  const what = `setting up JetStream stream ${spec.name}`;
  try {
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(spec.name);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw err;
      return await jsm.streams.add(spec);
    }
    const have = info.config;
    for (const fixed of ["retention", "storage"] as const)
      if (have[fixed] !== spec[fixed])
        throw new StagefarmError(
          "invalid_argument",
          `${what}: the stream exists with ${fixed} "${have[fixed]}" but "${spec[fixed]}" is needed; delete the stream or use another name prefix`,
        );
    const sameSubjects =
      have.subjects.length === spec.subjects.length && spec.subjects.every((s) => have.subjects.includes(s));
    const changed =
      !sameSubjects || EDITABLE_STREAM.some((k) => spec[k] !== undefined && spec[k] !== have[k]);
    if (!changed) return info;
    const update = { ...have, subjects: spec.subjects };
    for (const k of EDITABLE_STREAM) if (spec[k] !== undefined) Object.assign(update, { [k]: spec[k] });
    return await jsm.streams.update(spec.name, update);
  } catch (err: unknown) {
    throw fromNats(err, what);
  }
}

/**
 * Waits until the stream exists (another process creates it: the coordinator), polling with
 * backoff up to 2 s; says so once in the log. Only reads the stream's info.
 */
export async function waitForStream(
  jsm: JetStreamManager,
  name: string,
  opts: { logger: Logger; signal?: AbortSignal },
): Promise<StreamInfo> {
  const what = `waiting for JetStream stream ${name}`;
  let backoffMs = 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await jsm.streams.info(name);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw fromNats(err, what);
    }
    if (attempt === 1)
      opts.logger.warn({ stream: name }, "stream not created yet; waiting for the coordinator to create it");
    await sleep(backoffMs, undefined, opts.signal === undefined ? {} : { signal: opts.signal }).catch(() => {
      throw new StagefarmError("cancelled", `${what}: cancelled`);
    });
    backoffMs = Math.min(backoffMs * 2, 2_000);
  }
}

/** Creates the durable consumer, or brings an existing one's editable settings to `spec`. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: ConsumerSpec,
): Promise<ConsumerInfo> {
  const what = `setting up JetStream consumer ${spec.durable_name} on stream ${stream}`;
  try {
    let info: ConsumerInfo;
    try {
      info = await jsm.consumers.info(stream, spec.durable_name);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw err;
      return await jsm.consumers.add(stream, spec);
    }
    const have = info.config;
    if ((spec.filter_subject ?? "") !== (have.filter_subject ?? ""))
      throw new StagefarmError(
        "invalid_argument",
        `${what}: the consumer exists with filter subject "${have.filter_subject ?? ""}" but "${spec.filter_subject ?? ""}" is needed`,
      );
    const update: Partial<ConsumerConfig> = {};
    for (const k of EDITABLE_CONSUMER)
      if (spec[k] !== undefined && spec[k] !== have[k]) Object.assign(update, { [k]: spec[k] });
    if (Object.keys(update).length === 0) return info;
    return await jsm.consumers.update(stream, spec.durable_name, update);
  } catch (err: unknown) {
    throw fromNats(err, what);
  }
}

/** Opens the KV bucket, creating it when missing and updating its history depth and replicas when they differ. */
export async function ensureKv(
  js: JetStreamClient,
  bucket: string,
  opts: Partial<Pick<KvOptions, "history" | "storage" | "replicas" | "maxValueSize" | "description">>,
): Promise<KV> {
  const what = `setting up KV bucket ${bucket}`;
  try {
    const kv = await js.views.kv(bucket, opts);
    if (opts.history !== undefined || opts.replicas !== undefined) {
      const jsm = await js.jetstreamManager();
      const stream = `KV_${bucket}`;
      const info = await jsm.streams.info(stream);
      const update = { ...info.config };
      if (opts.history !== undefined) update.max_msgs_per_subject = opts.history;
      if (opts.replicas !== undefined) update.num_replicas = opts.replicas;
      if (
        update.max_msgs_per_subject !== info.config.max_msgs_per_subject ||
        update.num_replicas !== info.config.num_replicas
      )
        await jsm.streams.update(stream, update);
    }
    return kv;
  } catch (err: unknown) {
    throw fromNats(err, what);
  }
}
