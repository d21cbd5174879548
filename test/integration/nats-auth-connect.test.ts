/**
 * Connecting to a nats-server that runs the shipped configuration (deploy/nats/, rendered with
 * test keys and certificates): each farm user gets in with its own nkey over TLS; wrong or
 * missing credentials, a credentials file other users may read, an untrusted server
 * certificate and (under mutual TLS) a missing client certificate are refused at once, with a
 * message naming the cause and no secret; the shipped file left with its placeholders does not
 * start at all.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "nats";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { connectNats, createNkeyUser, readNatsCredentials } from "../../shared/nats/index.js";
import { parseNatsCredentials, type NatsConnectOptions } from "../../shared/nats/testing.js";
import { repoRoot } from "../helpers/cli.js";
import { startAuthNats, type AuthNatsHandle } from "../helpers/nats-auth.js";

const LIMIT = { timeout: 60_000 };

let nats: AuthNatsHandle | undefined;
before(async () => {
  nats = await startAuthNats();
});
after(async () => {
  await nats?.[Symbol.asyncDispose]();
});

function server(): AuthNatsHandle {
  assert.ok(nats, "nats-server did not start");
  return nats;
}

async function connectAs(
  user: string | undefined,
  extra: Partial<NatsConnectOptions> = {},
): Promise<NatsConnection> {
  const s = server();
  return connectNats(s.url, {
    name: `test-${user ?? "anonymous"}`,
    logger: silentLogger(),
    connectTimeoutMs: 10_000,
    tls: s.tls,
    ...(user === undefined ? {} : { auth: await s.auth(user) }),
    ...extra,
  });
}

/** Asserts that `p` fails with invalid_argument, quickly (no retrying until the connect timeout). */
async function refused(p: Promise<NatsConnection>, message: RegExp): Promise<StagefarmError> {
  const started = Date.now();
  let caught: unknown;
  try {
    const nc = await p;
    await nc.close();
  } catch (err: unknown) {
    caught = err;
  }
  assert.ok(caught instanceof StagefarmError, `refused with a StagefarmError, got ${String(caught)}`);
  assert.equal(caught.code, "invalid_argument", caught.message);
  assert.match(caught.message, message);
  assert.ok(Date.now() - started < 5_000, `refused at once, took ${Date.now() - started} ms`);
  return caught;
}

describe("NATS credentials and TLS (shipped config)", () => {
  test("the coordinator and each agent connect with their own nkey over TLS", LIMIT, async () => {
    for (const user of ["coordinator", "build-1", "build-2"]) {
      const nc = await connectAs(user);
      try {
        assert.equal(nc.info?.tls_required, true, "the server requires TLS");
        assert.ok(nc.info?.nonce !== undefined, "nkey challenge");
        await nc.flush();
      } finally {
        await nc.close();
      }
    }
  });

  test("an agent added with a generated user block gets in, with its own permissions", LIMIT, async () => {
    await using more = await startAuthNats({ agents: [{ id: "build-3", labels: ["chroot", "x86_64"] }] });
    const nc = await connectNats(more.url, {
      name: "build-3",
      logger: silentLogger(),
      tls: more.tls,
      auth: await more.auth("build-3"),
      inboxPrefix: "_INBOX.sf.agent.build-3",
    });
    try {
      nc.subscribe("sf.jobs.chroot+x86_64", { callback: () => undefined });
      await nc.request("$JS.API.INFO", new Uint8Array(), { timeout: 5_000 });
      await assert.rejects(
        nc.request("sf.claim.build-1", new Uint8Array(), { timeout: 5_000 }),
        /Permissions Violation/,
      );
    } finally {
      await nc.close();
    }
    assert.doesNotMatch(more.server.output(), /Subscription Violation/);
  });

  test("an unknown nkey, no credentials and a wrong password are refused at connect", LIMIT, async () => {
    const stranger = createNkeyUser();
    const err = await refused(
      connectAs(undefined, { auth: parseNatsCredentials(stranger.seed, "test") }),
      /the server refused the credentials \(nkey U[A-Z2-7]+\): check --nats-creds/,
    );
    assert.ok(!err.message.includes(stranger.seed), "the seed never appears in the error");
    await refused(connectAs(undefined), /refused the credentials \(no credentials\)/);
    await refused(
      connectAs(undefined, { auth: { kind: "user", user: "build-1", pass: "guess" } }),
      /refused the credentials \(user build-1\)/,
    );
    const log = server().server.output();
    assert.match(log, /authentication error/, "the server logged the refusals");
  });

  test("a credentials file other users may read is refused, naming the fix", LIMIT, async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-creds-"));
    try {
      const file = join(dir, "agent.creds");
      const { seed } = createNkeyUser();
      await writeFile(file, `# test\n${seed}\n`, { mode: 0o600 });
      assert.equal((await readNatsCredentials(file)).kind, "nkey");
      await chmod(file, 0o644);
      await assert.rejects(readNatsCredentials(file), (err: unknown) => {
        assert.ok(err instanceof StagefarmError && err.code === "invalid_argument");
        assert.match(
          err.message,
          /NATS credentials file .*agent\.creds is accessible to other users \(mode 0644\): run `chmod 600 /,
        );
        assert.ok(!err.message.includes(seed));
        return true;
      });
      await chmod(file, 0o640);
      await assert.rejects(readNatsCredentials(file), /mode 0640/);
      await writeFile(join(dir, "bad.creds"), "not a credential\n", { mode: 0o600 });
      await assert.rejects(
        readNatsCredentials(join(dir, "bad.creds")),
        /expected an nkey user seed \(SU…\) or USER:PASSWORD/,
      );
      await assert.rejects(readNatsCredentials(join(dir, "missing.creds")), /cannot be read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a server certificate from an untrusted CA is refused", LIMIT, async () => {
    const s = server();
    await refused(
      connectAs("build-1", { tls: { caFile: s.certs.otherCa } }),
      /TLS failed \(.*\): check --nats-ca/,
    );
    // Without --nats-ca the system's CAs do not trust the farm's CA either.
    await refused(connectAs("build-1", { tls: {} }), /TLS failed/);
  });

  test("under mutual TLS a client without a certificate is refused", LIMIT, async () => {
    await using mtls = await startAuthNats({ verify: true });
    const opts = (tls: NatsConnectOptions["tls"]): NatsConnectOptions => ({
      name: "mtls",
      logger: silentLogger(),
      connectTimeoutMs: 5_000,
      ...(tls === undefined ? {} : { tls }),
    });
    const auth = await mtls.auth("build-1");
    const nc = await connectNats(mtls.url, { ...opts(mtls.tls), auth });
    await nc.close();
    // The server drops the handshake; the client only sees no answer (TLS 1.3), and says what to check.
    await assert.rejects(
      connectNats(mtls.url, { ...opts({ caFile: mtls.certs.ca }), auth, connectTimeoutMs: 1_500 }),
      /no server answered within 1500 ms \(a server that requires client certificates also looks like this: give --nats-cert and --nats-key\)/,
    );
    assert.match(mtls.server.output(), /client didn't provide a certificate/);
  });

  test("the shipped configuration does not start with its placeholders left in", LIMIT, async () => {
    const s = server();
    const dir = await mkdtemp(join(tmpdir(), "sf-nats-placeholders-"));
    try {
      const shipped = join(repoRoot, "deploy/nats");
      const conf = (await readFile(join(shipped, "nats-server.conf"), "utf8"))
        .replace('"/etc/nats/tls/server.crt"', JSON.stringify(s.certs.serverCert))
        .replace('"/etc/nats/tls/server.key"', JSON.stringify(s.certs.serverKey))
        .replace('"/etc/nats/tls/ca.crt"', JSON.stringify(s.certs.ca));
      await writeFile(join(dir, "nats-server.conf"), conf);
      await copyFile(join(shipped, "stagefarm-users.conf"), join(dir, "stagefarm-users.conf"));
      const args = [
        "-c",
        join(dir, "nats-server.conf"),
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "-m",
        "0",
        "-sd",
        dir,
      ];
      const child = spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr.on("data", (c: Buffer) => (output += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      clearTimeout(timer);
      assert.notEqual(code, null, `nats-server exited by itself:\n${output}`);
      assert.notEqual(code, 0, `nats-server refused the configuration:\n${output}`);
      assert.match(output, /nkey/i, output);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
