/**
 * `stagefarm certs`: credentials for a small farm, made with `openssl` (no crypto of our own).
 *
 * - `certs init DIR [--hosts a,b] [--days N]`: a CA and, signed by it, certificates for the
 *   coordinator (`server`: serverAuth and clientAuth, SANs localhost, 127.0.0.1, ::1 and
 *   --hosts), the agents (`agent`) and command-line users (`client`), each with its key. EC
 *   P-256 keys, mode 0600 in a 0700 directory; an existing CA is never overwritten.
 * - `certs token --role R --name N [--expires DATE|DURATION]`: a new API token, printed once,
 *   and the line to add under `tokens:` in the coordinator's auth file (only its sha256).
 * - `certs binhost-password --user U`: a random password for `/binhost/` and its
 *   `binhost_auth` line.
 * - `certs agent ID --dir DIR`: a client certificate for one agent (`agent-ID.crt`/`.key`, for NATS
 *   with `verify: true`); `certs server NAME --hosts a,b --dir DIR`: a server certificate for a
 *   service on another host (NATS, MinIO); `certs renew DIR`: new certificates for the keys in DIR.
 *   Each says which file goes where, with which owner and mode (deploy/README.md, step 2).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
// The modules themselves, not the auth index (which loads yaml and zod).
import { isRole, ROLES } from "../../coordinator/auth/roles.js";
import { generateToken, sha256Hex } from "../../coordinator/auth/tokens.js";
import { StagefarmError } from "../../shared/errors.js";
import { parseDurationMs } from "../../shared/util/duration.js";
import type { CliContext } from "../context.js";
import { exists, issueLeaf, leavesIn, renewLeaf, sanList } from "../certs-issue.js";

export interface CertsInitOptions {
  /** Extra names or addresses of the coordinator, for its certificate's SANs. */
  hosts?: readonly string[];
  /** Validity of the leaf certificates in days (default 825); the CA gets 10 years. */
  days?: number;
  /** The openssl executable (default "openssl"). */
  openssl?: string;
  signal?: AbortSignal;
}

/** The files `certs init` writes, by role. */
export const CERT_FILES = {
  ca: { cert: "ca.crt", key: "ca.key" },
  server: { cert: "server.crt", key: "server.key" },
  agent: { cert: "agent.crt", key: "agent.key" },
  client: { cert: "client.crt", key: "client.key" },
} as const;

const CA_DAYS = 3650;

/** Creates the CA and the server, agent and client certificates in `dir`; returns the files written. */
export async function certsInit(dir: string, opts: CertsInitOptions = {}): Promise<string[]> {
  const days = opts.days ?? 825;
  if (!Number.isInteger(days) || days < 1)
    throw new StagefarmError("invalid_argument", "--days must be a positive number of days");
  for (const { cert, key } of Object.values(CERT_FILES))
    for (const f of [cert, key])
      if (await exists(join(dir, f)))
        throw new StagefarmError(
          "invalid_argument",
          `${join(dir, f)} exists: certs init never replaces keys or certificates (choose an empty DIR)`,
        );
  const openssl = opts.openssl ?? "openssl";
  const run = async (args: string[]): Promise<void> => {
    try {
      // execa is loaded when openssl runs: start-up loads registrations only (cli/main.ts).
      const { execa } = await import("execa");
      await execa(openssl, args, {
        cwd: dir,
        ...(opts.signal === undefined ? {} : { cancelSignal: opts.signal }),
      });
    } catch (err: unknown) {
      const e = err as { stderr?: unknown; shortMessage?: unknown };
      const why =
        typeof e.stderr === "string" && e.stderr.trim() !== "" ? e.stderr.trim() : String(e.shortMessage);
      throw new StagefarmError("internal", `openssl ${args[0] ?? ""} failed: ${why}`, { cause: err });
    }
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const written: string[] = [];
  const keep = async (file: string, mode: number): Promise<void> => {
    await chmod(join(dir, file), mode);
    written.push(join(dir, file));
  };
  // prettier-ignore
  await run([
    "req", "-x509", ...ec, "-keyout", CERT_FILES.ca.key, "-out", CERT_FILES.ca.cert,
    "-days", String(CA_DAYS), "-subj", "/CN=stagefarm CA",
    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await keep(CERT_FILES.ca.key, 0o600);
  await keep(CERT_FILES.ca.cert, 0o644);
  const leaves: Array<{ name: keyof typeof CERT_FILES; cn: string; ext: string }> = [
    {
      name: "server",
      cn: "stagefarm coordinator",
      ext: `subjectAltName=${sanList(opts.hosts ?? [])}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    },
    { name: "agent", cn: "stagefarm agent", ext: "extendedKeyUsage=clientAuth\n" },
    { name: "client", cn: "stagefarm client", ext: "extendedKeyUsage=clientAuth\n" },
  ];
  for (const leaf of leaves) {
    const { cert, key } = CERT_FILES[leaf.name];
    const csr = `${leaf.name}.csr`;
    const ext = `${leaf.name}.ext`;
    await writeFile(
      join(dir, ext),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${leaf.ext}`,
    );
    try {
      await run(["req", "-new", ...ec, "-keyout", key, "-out", csr, "-subj", `/CN=${leaf.cn}`]);
      await keep(key, 0o600);
      // prettier-ignore
      await run([
        "x509", "-req", "-in", csr, "-CA", CERT_FILES.ca.cert, "-CAkey", CERT_FILES.ca.key,
        "-set_serial", `0x${randomBytes(16).toString("hex")}`,
        "-days", String(days), "-sha256", "-extfile", ext, "-out", cert,
      ]);
      await keep(cert, 0o644);
    } finally {
      await rm(join(dir, csr), { force: true });
      await rm(join(dir, ext), { force: true });
    }
  }
  return written;
}

/** `--expires`: an ISO date/time, or a duration from now (`90d`, `12h`). */
export function expiryOf(text: string, now = Date.now()): string {
  const asDate = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(asDate)) return new Date(asDate).toISOString();
  return new Date(now + parseDurationMs(text)).toISOString();
}

export function registerCerts(program: Command, ctx: CliContext): void {
  const certs = program.command("certs").description("make TLS certificates and API tokens for a farm");

  certs
    .command("init")
    .description("create a CA and the coordinator (server), agent and client certificates with openssl")
    .argument("<dir>", "directory for the files (created with mode 0700)")
    .option("--hosts <a,b>", "the coordinator's host names and addresses, besides localhost")
    .option("--days <n>", "validity of the certificates in days (default 825; the CA 10 years)")
    .action(async (dir: string, opts: { hosts?: string; days?: string }) => {
      const hosts = (opts.hosts ?? "")
        .split(",")
        .map((h) => h.trim())
        .filter((h) => h !== "");
      const files = await certsInit(dir, { hosts, days: opts.days === undefined ? 825 : Number(opts.days) });
      ctx.stdout.write(
        [
          ...files.map((f) => `wrote ${f}`),
          "",
          "where the files go (deploy/README.md, step 2):",
          "  ca.crt      every host: /etc/stagefarm/tls/ca.crt (0644), NATS /etc/nats/tls/ca.crt,",
          "              Prometheus /etc/prometheus/stagefarm-ca.crt, operators (STAGEFARM_CA)",
          "  ca.key      root only (0600), offline once the certificates are made; certs agent/server/renew need it",
          "  server.*    the coordinator's host: STAGEFARM_TLS_CERT / STAGEFARM_TLS_KEY (key 0600, owner root);",
          "              NATS there: /etc/nats/tls/server.crt, server.key (owner nats, key 0600)",
          "  agent.*     mutual TLS with NATS only (STAGEFARM_NATS_CERT/_KEY); better one per agent: certs agent ID",
          "  client.*    operators, for --tls-client-ca only: STAGEFARM_CERT / STAGEFARM_KEY (key 0600)",
          "",
        ].join("\n"),
      );
    });

  certs
    .command("token")
    .description("create an API token: printed once, with the line for the coordinator's auth file")
    .requiredOption("--role <role>", `${ROLES.join(", ")}`)
    .requiredOption("--name <name>", "who or what uses it (letters, digits, _ . @ -)")
    .option("--expires <when>", "an ISO date, or a duration from now such as 90d")
    .option("--json", "print {name, role, token, sha256, expires} as JSON")
    .action((opts: { role: string; name: string; expires?: string; json?: boolean }) => {
      if (!isRole(opts.role))
        throw new StagefarmError("invalid_argument", `--role must be one of ${ROLES.join(", ")}`);
      if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(opts.name))
        throw new StagefarmError("invalid_argument", "--name: letters, digits and _ . @ - (at most 64)");
      const token = generateToken();
      const expires = opts.expires === undefined ? undefined : expiryOf(opts.expires);
      const entry = {
        name: opts.name,
        role: opts.role,
        sha256: sha256Hex(token),
        ...(expires === undefined ? {} : { expires }),
      };
      if (opts.json === true) {
        ctx.stdout.write(`${JSON.stringify({ ...entry, token })}\n`);
        return;
      }
      const line = Object.entries(entry)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");
      ctx.stdout.write(
        `token for ${opts.name} (shown once; give it as STAGEFARM_TOKEN):\n${token}\n\n` +
          `add under tokens: in the coordinator's auth file:\n  - { ${line} }\n`,
      );
    });

  const leafDays = (d: string | undefined): number => (d === undefined ? 825 : Number(d));
  certs
    .command("agent")
    .description("issue a client certificate for one agent (NATS mutual TLS), signed by the farm CA")
    .argument("<id>", "the agent's id (its STAGEFARM_AGENT_ID)")
    .requiredOption(
      "--dir <dir>",
      "the directory of certs init (ca.crt, ca.key); the files are written there",
    )
    .option("--days <n>", "validity in days (default 825)")
    .action(async (id: string, opts: { dir: string; days?: string }) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
        throw new StagefarmError("invalid_argument", "an agent's id: 1-64 letters, digits, _ and -");
      const [key, cert] = await issueLeaf(opts.dir, {
        name: `agent-${id}`,
        cn: `stagefarm agent ${id}`,
        ext: "extendedKeyUsage=clientAuth\n",
        days: leafDays(opts.days),
      });
      ctx.stdout.write(
        `wrote ${key}\nwrote ${cert}\n\n` +
          `copy to agent ${id}'s host, owner root:\n` +
          `  ${cert} -> /etc/stagefarm/tls/agent.crt (0644)   STAGEFARM_NATS_CERT\n` +
          `  ${key} -> /etc/stagefarm/tls/agent.key (0600)   STAGEFARM_NATS_KEY\n` +
          "then delete the key here; NATS needs verify: true in tls {} to ask for it\n",
      );
    });

  certs
    .command("server")
    .description(
      "issue a server certificate for a service on another host (NATS, MinIO), signed by the farm CA",
    )
    .argument("<name>", "file name stem, e.g. nats (writes NAME.crt and NAME.key)")
    .requiredOption("--hosts <a,b>", "the names and addresses clients use for it")
    .requiredOption(
      "--dir <dir>",
      "the directory of certs init (ca.crt, ca.key); the files are written there",
    )
    .option("--days <n>", "validity in days (default 825)")
    .action(async (name: string, opts: { hosts: string; dir: string; days?: string }) => {
      const hosts = opts.hosts
        .split(",")
        .map((h) => h.trim())
        .filter((h) => h !== "");
      if (hosts.length === 0) throw new StagefarmError("invalid_argument", "--hosts: at least one name");
      const [key, cert] = await issueLeaf(opts.dir, {
        name,
        cn: hosts[0] ?? name,
        ext: `subjectAltName=${sanList(hosts)}\nextendedKeyUsage=serverAuth,clientAuth\n`,
        days: leafDays(opts.days),
      });
      ctx.stdout.write(
        `wrote ${key}\nwrote ${cert}\n\n` +
          `copy to ${hosts[0] ?? name}, owned by the service's user (e.g. nats):\n` +
          `  ${cert} -> /etc/nats/tls/server.crt (0644)\n  ${key} -> /etc/nats/tls/server.key (0600)\n` +
          `  ${join(opts.dir, "ca.crt")} -> /etc/nats/tls/ca.crt (0644)\n`,
      );
    });

  certs
    .command("renew")
    .description("issue new certificates for the keys in DIR (same names and usages), signed by its CA")
    .argument("<dir>", "the directory of certs init")
    .option("--days <n>", "validity in days (default 825)")
    .action(async (dir: string, opts: { days?: string }) => {
      const leaves = await leavesIn(dir);
      if (leaves.length === 0)
        throw new StagefarmError("not_found", `${dir} holds no certificate with its key to renew`);
      for (const name of leaves) {
        const cert = await renewLeaf(dir, name, leafDays(opts.days));
        ctx.stdout.write(`renewed ${cert}\n`);
      }
      ctx.stdout.write(
        "\ncopy each renewed certificate where its old one is (the keys did not change), then:\n" +
          "  nats-server --signal reload; restart the coordinator (it reads its certificate at start)\n",
      );
    });

  certs
    .command("binhost-password")
    .description("create a password for HTTP basic auth on /binhost/, with its auth file line")
    .requiredOption("--user <user>", "the user name portage sends")
    .action((opts: { user: string }) => {
      const password = randomBytes(24).toString("base64url");
      ctx.stdout.write(
        `password for ${opts.user} (shown once; portage: sync-uri = https://${opts.user}:PASSWORD@HOST/binhost/NAME):\n${password}\n\n` +
          `add to the coordinator's auth file:\nbinhost_auth: { user: ${opts.user}, sha256: ${sha256Hex(password)} }\n`,
      );
    });
}
