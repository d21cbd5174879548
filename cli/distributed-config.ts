/**
 * Configuration of the distributed processes, validated once with one schema. The flags already
 * hold their environment variables (commander's Option.env, cli/options.ts; an empty one counts
 * as unset); `env` is read only for the settings without a flag (STAGEFARM_S3_RETRIES,
 * STAGEFARM_JOB_ACK_WAIT, STAGEFARM_MAX_UNPACKED_SIZE of the embedded farm, the host-name list)
 * and the switches that must be exactly "1". Secrets in URLs never appear in error messages.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { StagefarmError } from "../shared/errors.js";
import { readSecretFile } from "../shared/secret-file.js";
import { parseDurationMs } from "../shared/util/duration.js";
import { switchOn } from "./options.js";
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

// Registrations import these from ./farm-options.js, which loads no zod.
export { addNatsOptions, addStoreOptions } from "./farm-options.js";

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
    natsUrl: given(flags.nats) ?? "nats://127.0.0.1:4222",
    s3Url: given(flags.s3) as string,
    prefix: given(flags.prefix) ?? "sf",
    natsCredsFile: given(flags.natsCreds),
    natsCaFile: given(flags.natsCa),
    natsCertFile: given(flags.natsCert),
    natsKeyFile: given(flags.natsKey),
    storeOutageBudgetMs: given(flags.storeOutageBudget) ?? "10m",
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
      listen: given(flags.listen) ?? "127.0.0.1:7420",
      http: given(flags.http) ?? "127.0.0.1:9464",
      leaseTtlMs: given(flags.leaseTtl) ?? "30s",
      jobAckWaitMs: env["STAGEFARM_JOB_ACK_WAIT"] ?? "30s",
      natsReplicas: given(flags.natsReplicas) ?? "1",
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
  const labels = given(flags.labels) ?? "x86_64";
  return parse(
    agentSchema,
    {
      ...farm(flags, env),
      id:
        given(flags.id) ??
        hostname()
          .replace(/[^A-Za-z0-9_-]/g, "-")
          .slice(0, 64),
      labels: labels
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l.length > 0),
      slots: Number(given(flags.slots) ?? "1"),
      workDir: given(flags.workDir) ?? defaultWorkDir,
      heartbeatMs: given(flags.heartbeat) ?? "5s",
      drainTimeoutMs: given(flags.drainTimeout) ?? "10m",
      jobAckWaitMs: env["STAGEFARM_JOB_ACK_WAIT"] ?? "30s",
      maxUnpackedBytes: unpackedSizeSetting(flags.maxUnpackedSize, env),
    },
    "agent",
  );
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
 * Env read here: STAGEFARM_INSECURE=1, STAGEFARM_PLAIN_HTTP=1, STAGEFARM_HTTP_HOST_NAMES
 * (comma-separated); the files' variables come with the flags.
 */
export function serveSecurity(flags: ServeSecurityFlags, env: NodeJS.ProcessEnv): ServeSecurity {
  return parse(
    serveSecuritySchema,
    {
      tlsCert: given(flags.tlsCert),
      tlsKey: given(flags.tlsKey),
      tlsClientCa: given(flags.tlsClientCa),
      authFile: given(flags.auth),
      insecure: switchOn(flags.insecure, env, "STAGEFARM_INSECURE"),
      plainHttp: switchOn(flags.plainHttp, env, "STAGEFARM_PLAIN_HTTP"),
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
  tokenFile?: string;
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
 * The connection of a command that calls a coordinator. `flags` hold what the command line, the
 * environment (Option.env: STAGEFARM_COORDINATOR, _CA, _CERT, _KEY, _TOKEN, _TOKEN_FILE) and the
 * config file's context gave (cli/main.ts); `env` is read for the switches STAGEFARM_TLS=1 (TLS
 * trusting the system's CAs) and STAGEFARM_INSECURE=1. TLS is on when a CA, certificate or key is
 * given. A token comes from --token, else from --token-file (mode 0600, like a private key).
 */
export async function clientConfig(flags: ClientFlags, env: NodeJS.ProcessEnv): Promise<ClientConfig> {
  const ca = given(flags.ca);
  const cert = given(flags.cert);
  const key = given(flags.key);
  if ((cert === undefined) !== (key === undefined))
    throw new StagefarmError(
      "invalid_argument",
      "--cert and --key (STAGEFARM_CERT, STAGEFARM_KEY) go together",
    );
  const tlsOn = ca !== undefined || cert !== undefined || switchOn(flags.tls, env, "STAGEFARM_TLS");
  const tokenFile = given(flags.tokenFile);
  return {
    address: parse(hostPort, given(flags.coordinator) ?? "127.0.0.1:7420", "--coordinator"),
    tls: tlsOn
      ? { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key }) }
      : undefined,
    token: given(flags.token) ?? (tokenFile === undefined ? undefined : await readToken(tokenFile)),
    insecure: switchOn(flags.insecure, env, "STAGEFARM_INSECURE"),
  };
}

/** The token of a token file: its first line, which must not be empty. */
async function readToken(file: string): Promise<string> {
  const text = (await readSecretFile(file, "token file")).toString("utf8");
  const token = (text.split("\n")[0] ?? "").trim();
  if (token === "" || /\s/.test(token))
    throw new StagefarmError("invalid_argument", `token file ${file}: the first line must hold the token`);
  return token;
}
