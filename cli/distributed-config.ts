/**
 * Configuration of the distributed processes: flags with environment fallbacks, validated once
 * with one schema. Secrets in URLs never appear in error messages.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { parseDurationMs } from "../shared/util/duration.js";

export interface FarmFlags {
  nats?: string;
  s3?: string;
  prefix?: string;
}

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, "expected HOST:PORT");
const duration = z.string().transform((v, ctx) => {
  try {
    return parseDurationMs(v);
  } catch (err: unknown) {
    ctx.addIssue({ code: "custom", message: StagefarmError.from(err).message });
    return z.NEVER;
  }
});

function parse<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new StagefarmError(
      "invalid_argument",
      `invalid ${what} configuration:\n${z.prettifyError(r.error)}`,
    );
  return r.data;
}

const farmSchema = z.object({
  natsUrl: z.string().regex(/^(nats|tls):\/\//, "--nats must be a nats:// URL"),
  s3Url: z
    .string({ error: "--s3 (or STAGEFARM_S3_URL) is required: http://ACCESS:SECRET@HOST:PORT/BUCKET" })
    .regex(/^https?:\/\//, "--s3 must be an http(s):// URL"),
  prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "--prefix: letters, digits, _ and -"),
});

function farm(flags: FarmFlags, env: NodeJS.ProcessEnv): z.input<typeof farmSchema> {
  return {
    natsUrl: flags.nats ?? env["STAGEFARM_NATS_URL"] ?? "nats://127.0.0.1:4222",
    s3Url: (flags.s3 ?? env["STAGEFARM_S3_URL"]) as string,
    prefix: flags.prefix ?? env["STAGEFARM_PREFIX"] ?? "sf",
  };
}

export const coordinatorSchema = farmSchema.extend({
  listen: hostPort,
  http: hostPort,
  leaseTtlMs: duration,
  jobAckWaitMs: duration,
});
export type CoordinatorConfig = z.infer<typeof coordinatorSchema>;

export function coordinatorConfig(
  flags: FarmFlags & { listen?: string; http?: string; leaseTtl?: string },
  env: NodeJS.ProcessEnv,
): CoordinatorConfig {
  return parse(
    coordinatorSchema,
    {
      ...farm(flags, env),
      listen: flags.listen ?? env["STAGEFARM_LISTEN"] ?? "127.0.0.1:7420",
      http: flags.http ?? env["STAGEFARM_HTTP"] ?? "127.0.0.1:9464",
      leaseTtlMs: flags.leaseTtl ?? env["STAGEFARM_LEASE_TTL"] ?? "30s",
      jobAckWaitMs: env["STAGEFARM_JOB_ACK_WAIT"] ?? "30s",
    },
    "coordinator",
  );
}

export const agentSchema = farmSchema.extend({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "--id: letters, digits, _ and - (at most 64)"),
  labels: z.array(z.string().regex(/^[A-Za-z0-9_=.-]{1,64}$/, "labels: letters, digits, _ = . -")).max(8),
  slots: z.number().int().min(1).max(256),
  workDir: z.string().min(1),
  heartbeatMs: duration,
  drainTimeoutMs: duration,
  jobAckWaitMs: duration,
});
export type AgentConfig = z.infer<typeof agentSchema>;

export function agentConfig(
  flags: FarmFlags & {
    id?: string;
    labels?: string;
    slots?: string;
    workDir?: string;
    drainTimeout?: string;
  },
  env: NodeJS.ProcessEnv,
  defaultWorkDir: string,
): AgentConfig {
  const labels = flags.labels ?? env["STAGEFARM_LABELS"] ?? "x86_64";
  return parse(
    agentSchema,
    {
      ...farm(flags, env),
      id:
        flags.id ??
        env["STAGEFARM_AGENT_ID"] ??
        hostname()
          .replace(/[^A-Za-z0-9_-]/g, "-")
          .slice(0, 64),
      labels: labels
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l.length > 0),
      slots: Number(flags.slots ?? env["STAGEFARM_SLOTS"] ?? "1"),
      workDir: flags.workDir ?? env["STAGEFARM_WORK_DIR"] ?? defaultWorkDir,
      heartbeatMs: env["STAGEFARM_HEARTBEAT"] ?? "5s",
      drainTimeoutMs: flags.drainTimeout ?? env["STAGEFARM_DRAIN_TIMEOUT"] ?? "10m",
      jobAckWaitMs: env["STAGEFARM_JOB_ACK_WAIT"] ?? "30s",
    },
    "agent",
  );
}

export function clientAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return parse(hostPort, flag ?? env["STAGEFARM_COORDINATOR"] ?? "127.0.0.1:7420", "--coordinator");
}
