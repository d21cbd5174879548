/**
 * Configuration of the distributed processes: flags with environment fallbacks, validated once
 * with one schema. Secrets in URLs never appear in error messages.
 */
import { hostname } from "node:os";
import type { Command } from "commander";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { parseDurationMs } from "../shared/util/duration.js";
import { unpackedSize, unpackedSizeSetting } from "./unpacked-size.js";

export interface FarmFlags {
  nats?: string;
  s3?: string;
  prefix?: string;
  /** NATS credentials file (nkey seed or USER:PASSWORD), CA, client certificate and key. */
  natsCreds?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
  storeOutageBudget?: string;
}

/** Help of the store outage settings (agent and coordinator). */
export const STORE_OUTAGE_BUDGET_HELP =
  "how long a store (S3) outage may last before the stages waiting for it fail; until then store " +
  "operations are retried, finished outputs and logs are held locally and no new stage is dispatched " +
  "(env STAGEFARM_STORE_OUTAGE_BUDGET; default 10m). Each S3 request is itself tried " +
  "1 + STAGEFARM_S3_RETRIES times (default 6) before it counts as an outage";

/** Adds the store outage option (`FarmFlags.storeOutageBudget`) to a farm command. */
export function addStoreOptions(cmd: Command): Command {
  return cmd.option("--store-outage-budget <duration>", STORE_OUTAGE_BUDGET_HELP);
}

/** Adds the NATS credential and TLS options (`FarmFlags.nats*`) to a farm command. */
export function addNatsOptions(cmd: Command): Command {
  return cmd
    .option(
      "--nats-creds <file>",
      "NATS credentials: an nkey seed (stagefarm nats user) or USER:PASSWORD, mode 0600 (env STAGEFARM_NATS_CREDS)",
    )
    .option(
      "--nats-ca <file>",
      "CA that signed the NATS server's certificate; enables TLS (env STAGEFARM_NATS_CA)",
    )
    .option("--nats-cert <file>", "client certificate for mutual TLS with NATS (env STAGEFARM_NATS_CERT)")
    .option("--nats-key <file>", "key of --nats-cert, mode 0600 (env STAGEFARM_NATS_KEY)");
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
  natsCredsFile: z.string().min(1).optional(),
  natsCaFile: z.string().min(1).optional(),
  natsCertFile: z.string().min(1).optional(),
  natsKeyFile: z.string().min(1).optional(),
  storeOutageBudgetMs: duration,
  s3Retries: z.coerce
    .number({ error: "STAGEFARM_S3_RETRIES must be a whole number from 0 to 20" })
    .int("STAGEFARM_S3_RETRIES must be a whole number from 0 to 20")
    .min(0, "STAGEFARM_S3_RETRIES must be a whole number from 0 to 20")
    .max(20, "STAGEFARM_S3_RETRIES must be a whole number from 0 to 20"),
});

function farm(flags: FarmFlags, env: NodeJS.ProcessEnv): z.input<typeof farmSchema> {
  return {
    natsUrl: flags.nats ?? env["STAGEFARM_NATS_URL"] ?? "nats://127.0.0.1:4222",
    s3Url: (flags.s3 ?? env["STAGEFARM_S3_URL"]) as string,
    prefix: flags.prefix ?? env["STAGEFARM_PREFIX"] ?? "sf",
    natsCredsFile: given(flags.natsCreds ?? env["STAGEFARM_NATS_CREDS"]),
    natsCaFile: given(flags.natsCa ?? env["STAGEFARM_NATS_CA"]),
    natsCertFile: given(flags.natsCert ?? env["STAGEFARM_NATS_CERT"]),
    natsKeyFile: given(flags.natsKey ?? env["STAGEFARM_NATS_KEY"]),
    storeOutageBudgetMs: flags.storeOutageBudget ?? env["STAGEFARM_STORE_OUTAGE_BUDGET"] ?? "10m",
    s3Retries: given(env["STAGEFARM_S3_RETRIES"]) ?? "6",
  };
}

export const coordinatorSchema = farmSchema.extend({
  listen: hostPort,
  http: hostPort,
  leaseTtlMs: duration,
  jobAckWaitMs: duration,
  natsReplicas: z.coerce
    .number()
    .int()
    .refine((n) => n === 1 || n === 3 || n === 5, "--nats-replicas: 1, 3 or 5"),
});
export type CoordinatorConfig = z.infer<typeof coordinatorSchema>;

export function coordinatorConfig(
  flags: FarmFlags & { listen?: string; http?: string; leaseTtl?: string; natsReplicas?: string },
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
      natsReplicas: flags.natsReplicas ?? env["STAGEFARM_NATS_REPLICAS"] ?? "1",
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
  maxUnpackedBytes: unpackedSize,
});
export type AgentConfig = z.infer<typeof agentSchema>;

export function agentConfig(
  flags: FarmFlags & {
    id?: string;
    labels?: string;
    slots?: string;
    workDir?: string;
    drainTimeout?: string;
    maxUnpackedSize?: string;
    heartbeat?: string;
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
      heartbeatMs: flags.heartbeat ?? env["STAGEFARM_HEARTBEAT"] ?? "5s",
      drainTimeoutMs: flags.drainTimeout ?? env["STAGEFARM_DRAIN_TIMEOUT"] ?? "10m",
      jobAckWaitMs: env["STAGEFARM_JOB_ACK_WAIT"] ?? "30s",
      maxUnpackedBytes: unpackedSizeSetting(flags.maxUnpackedSize, env),
    },
    "agent",
  );
}

export function clientAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return parse(hostPort, flag ?? env["STAGEFARM_COORDINATOR"] ?? "127.0.0.1:7420", "--coordinator");
}

function given(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** TLS and access flags of the processes that serve (`stagefarm coordinator`, `stagefarm up`). */
export interface ServeSecurityFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  auth?: string;
  insecure?: boolean;
  plainHttp?: boolean;
  /** --http-host-name, repeatable. */
  httpHostName?: string[];
}

const hostName = z
  .string()
  .regex(
    /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$|^\[[0-9A-Fa-f:.]+\]$/,
    "--http-host-name must be a DNS name or an IP address (no port, no scheme)",
  );

const serveSecuritySchema = z
  .object({
    plainHttp: z.boolean(),
    httpHostNames: z.array(hostName),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    tlsClientCa: z.string().optional(),
    authFile: z.string().optional(),
    insecure: z.boolean(),
  })
  .refine((c) => (c.tlsCert === undefined) === (c.tlsKey === undefined), {
    message: "--tls-cert and --tls-key go together",
  })
  .refine((c) => c.tlsClientCa === undefined || c.tlsCert !== undefined, {
    message: "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key",
  });
export type ServeSecurity = z.infer<typeof serveSecuritySchema>;

/**
 * Env: STAGEFARM_TLS_CERT, STAGEFARM_TLS_KEY, STAGEFARM_TLS_CLIENT_CA, STAGEFARM_AUTH,
 * STAGEFARM_INSECURE=1, STAGEFARM_PLAIN_HTTP=1, STAGEFARM_HTTP_HOST_NAMES (comma-separated).
 */
export function serveSecurity(flags: ServeSecurityFlags, env: NodeJS.ProcessEnv): ServeSecurity {
  return parse(
    serveSecuritySchema,
    {
      tlsCert: given(flags.tlsCert ?? env["STAGEFARM_TLS_CERT"]),
      tlsKey: given(flags.tlsKey ?? env["STAGEFARM_TLS_KEY"]),
      tlsClientCa: given(flags.tlsClientCa ?? env["STAGEFARM_TLS_CLIENT_CA"]),
      authFile: given(flags.auth ?? env["STAGEFARM_AUTH"]),
      insecure: flags.insecure === true || env["STAGEFARM_INSECURE"] === "1",
      plainHttp: flags.plainHttp === true || env["STAGEFARM_PLAIN_HTTP"] === "1",
      httpHostNames:
        flags.httpHostName ??
        (env["STAGEFARM_HTTP_HOST_NAMES"] ?? "")
          .split(",")
          .map((n) => n.trim())
          .filter((n) => n !== ""),
    },
    "TLS and access",
  );
}

/** Connection flags of the commands that call a coordinator (`submit`, `runs`, `logs`, …). */
export interface ClientFlags {
  coordinator?: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  tls?: boolean;
  insecure?: boolean;
}

export interface ClientConfig {
  address: string;
  /** Present when the connection uses TLS: the files of the CA and the client certificate. */
  tls: { ca?: string; cert?: string; key?: string } | undefined;
  token: string | undefined;
  insecure: boolean;
}

/**
 * Env: STAGEFARM_COORDINATOR, STAGEFARM_CA, STAGEFARM_CERT, STAGEFARM_KEY, STAGEFARM_TOKEN,
 * STAGEFARM_TLS=1 (TLS trusting the system's CAs), STAGEFARM_INSECURE=1. TLS is on when a CA,
 * certificate or key is given.
 */
export function clientConfig(flags: ClientFlags, env: NodeJS.ProcessEnv): ClientConfig {
  const ca = given(flags.ca ?? env["STAGEFARM_CA"]);
  const cert = given(flags.cert ?? env["STAGEFARM_CERT"]);
  const key = given(flags.key ?? env["STAGEFARM_KEY"]);
  if ((cert === undefined) !== (key === undefined))
    throw new StagefarmError(
      "invalid_argument",
      "--cert and --key (STAGEFARM_CERT, STAGEFARM_KEY) go together",
    );
  const tlsOn = ca !== undefined || cert !== undefined || flags.tls === true || env["STAGEFARM_TLS"] === "1";
  return {
    address: clientAddress(flags.coordinator, env),
    tls: tlsOn
      ? { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key }) }
      : undefined,
    token: given(flags.token ?? env["STAGEFARM_TOKEN"]),
    insecure: flags.insecure === true || env["STAGEFARM_INSECURE"] === "1",
  };
}
