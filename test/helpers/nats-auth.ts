/**
 * A nats-server running the shipped configuration (deploy/nats/nats-server.conf and
 * stagefarm-users.conf) for the NATS security tests: rendered into a temp dir with test
 * certificates (a CA, the server's for 127.0.0.1, a client's, and an unrelated CA, made with
 * `openssl`), a fresh nkey per user of the shipped file (the coordinator, build-1, build-2; the
 * seeds in 0600 credentials files), optionally more agents (blocks from `natsUserBlock`) and
 * mutual TLS (`verify: true`, commented out in the shipped file), and the JetStream store in the
 * temp dir. The address and ports come from the nats-server harness. Each substitution must
 * apply, so a change of the shipped file's form fails the tests instead of silently testing
 * something else.
 *
 *   await using nats = await startAuthNats({ agents: [{ id: "build-3", labels: ["x86_64"] }] });
 *   const nc = await connectNats(nats.url, { name, logger, tls: nats.tls, auth: await nats.auth("build-3") });
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { StagefarmError } from "../../shared/errors.js";
import {
  createNkeyUser,
  natsUserBlock,
  readNatsCredentials,
  type NatsTlsFiles,
} from "../../shared/nats/index.js";
import { type NatsAuth } from "../../shared/nats/testing.js";
import { repoRoot } from "./cli.js";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";

const run = promisify(execFile);

/** The users of the shipped stagefarm-users.conf and their placeholders. */
const SHIPPED_USERS = {
  coordinator: "@COORDINATOR_NKEY@",
  "build-1": "@BUILD_1_NKEY@",
  "build-2": "@BUILD_2_NKEY@",
};
export const SHIPPED_PREFIX = "sf";

export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing of this farm. */
  otherCa: string;
}

/** Makes the certificates with openssl (EC P-256, valid 2 days); keys are 0600. */
export async function makeTestCerts(dir: string): Promise<TestCerts> {
  const p = (name: string): string => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const openssl = async (args: string[]): Promise<void> => {
    await run("openssl", args).catch((err: unknown) => {
      throw new StagefarmError(
        "unavailable",
        `openssl ${args[0] ?? ""} failed: ${StagefarmError.from(err).message}`,
      );
    });
  };
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=stagefarm test CA",
  ]);
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("other.key"),
    "-out",
    p("other.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=other CA",
  ]);
  for (const [name, cn, ext] of [
    ["server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"],
    ["client", "stagefarm agent", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    await openssl([
      "req",
      ...ec,
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    ]);
    await writeFile(p(`${name}.ext`), ext);
    await openssl([
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      p(`${name}.ext`),
    ]);
  }
  for (const key of ["ca.key", "other.key", "server.key", "client.key"]) await chmod(p(key), 0o600);
  return {
    ca: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    otherCa: p("other.crt"),
  };
}

function substitute(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from))
    throw new StagefarmError("internal", `the shipped ${file} no longer contains ${JSON.stringify(from)}`);
  return text.split(from).join(to);
}

export interface AuthNatsOptions {
  /** More agents, added to the users list with `natsUserBlock`. */
  agents?: Array<{ id: string; labels: string[] }>;
  /** Require client certificates (mutual TLS). */
  verify?: boolean;
}

export interface AuthNatsHandle extends AsyncDisposable {
  readonly server: NatsServerHandle;
  readonly url: string;
  readonly dir: string;
  readonly certs: TestCerts;
  readonly prefix: string;
  /** The rendered configuration files. */
  readonly configFile: string;
  readonly usersFile: string;
  /** The credentials file (nkey seed, 0600) of a user: `coordinator` or an agent id. */
  credsFile(user: string): string;
  auth(user: string): Promise<NatsAuth>;
  /** TLS options trusting the test CA (with the client certificate when `verify`). */
  readonly tls: NatsTlsFiles;
}

/** Renders the shipped configuration into a temp dir and starts nats-server with it. */
export async function startAuthNats(opts: AuthNatsOptions = {}): Promise<AuthNatsHandle> {
  const dir = await mkdtemp(join(tmpdir(), "sf-nats-auth-"));
  try {
    const certs = await makeTestCerts(dir);
    const creds = new Map<string, string>();
    const keys = new Map<string, string>();
    const users = [...Object.keys(SHIPPED_USERS), ...(opts.agents ?? []).map((a) => a.id)];
    for (const user of users) {
      const { publicKey, seed } = createNkeyUser();
      const file = join(dir, `${user}.creds`);
      await writeFile(file, `${seed}\n`, { mode: 0o600 });
      creds.set(user, file);
      keys.set(user, publicKey);
    }
    const shipped = join(repoRoot, "deploy/nats");
    let conf = await readFile(join(shipped, "nats-server.conf"), "utf8");
    for (const [from, to] of [
      ['"/etc/nats/tls/server.crt"', JSON.stringify(certs.serverCert)],
      ['"/etc/nats/tls/server.key"', JSON.stringify(certs.serverKey)],
      ['"/etc/nats/tls/ca.crt"', JSON.stringify(certs.ca)],
      ["store_dir: /var/lib/nats", `store_dir: ${JSON.stringify(join(dir, "jetstream"))}`],
    ] as const)
      conf = substitute(conf, from, to, "nats-server.conf");
    if (opts.verify === true) conf = substitute(conf, "# verify: true", "verify: true", "nats-server.conf");
    let usersConf = await readFile(join(shipped, "stagefarm-users.conf"), "utf8");
    for (const [user, placeholder] of Object.entries(SHIPPED_USERS))
      usersConf = substitute(usersConf, placeholder, keys.get(user) ?? "", "stagefarm-users.conf");
    const extra = (opts.agents ?? []).map((a) =>
      natsUserBlock(
        {
          role: "agent",
          prefix: SHIPPED_PREFIX,
          nkey: keys.get(a.id) ?? "",
          agentId: a.id,
          labels: a.labels,
        },
        "  ",
      ),
    );
    if (extra.length > 0)
      usersConf = substitute(usersConf, "\n]\n", `\n${extra.join("\n")}\n]\n`, "stagefarm-users.conf");
    const configFile = join(dir, "nats-server.conf");
    const usersFile = join(dir, "stagefarm-users.conf");
    await writeFile(configFile, conf);
    await writeFile(usersFile, usersConf);
    const server = await startNatsServer({ config: { file: configFile, storeDir: join(dir, "jetstream") } });
    const tls: NatsTlsFiles =
      opts.verify === true
        ? { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey }
        : { caFile: certs.ca };
    const credsFile = (user: string): string => {
      const file = creds.get(user);
      if (file === undefined)
        throw new StagefarmError("not_found", `no NATS user ${user} in this test server`);
      return file;
    };
    return {
      server,
      url: server.url,
      dir,
      certs,
      prefix: SHIPPED_PREFIX,
      configFile,
      usersFile,
      tls,
      credsFile,
      auth: (user) => readNatsCredentials(credsFile(user)),
      async [Symbol.asyncDispose]() {
        try {
          await server[Symbol.asyncDispose]();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
