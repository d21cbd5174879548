/**
 * Day-two credentials, with the built CLI as processes: `stagefarm certs agent` and `certs server`
 * issue certificates from the farm CA (openssl verifies them; names and usages as asked; keys
 * 0600), `certs renew` gives every leaf a new certificate for the same key and names; a running
 * coordinator re-reads its auth file on SIGHUP, so a removed token is refused without a restart,
 * and a broken file is refused while the previous tokens stay in force.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { cleanCliEnv, cliPath, repoRoot, runCleanCli } from "../helpers/cli.js";
import { coordinatorPorts, FarmProcess } from "../helpers/farm-process.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startS3rver } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

const run = promisify(execFile);

async function x509(file: string, ...what: string[]): Promise<string> {
  return (await run("openssl", ["x509", "-in", file, "-noout", ...what])).stdout;
}

describe("certificates per agent, renewal, token revocation on SIGHUP", () => {
  test("certs agent / server / renew", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-certs-"));
    try {
      const certs = join(dir, "tls");
      const init = await runCleanCli(["certs", "init", certs, "--hosts", "farm.example.org"]);
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /ca\.crt +every host/);
      const agent = await runCleanCli(["certs", "agent", "build-b", "--dir", certs]);
      assert.equal(agent.code, 0, agent.stderr);
      assert.match(agent.stdout, /agent-build-b\.key -> \/etc\/stagefarm\/tls\/agent\.key \(0600\)/);
      const server = await runCleanCli([
        "certs",
        "server",
        "nats",
        "--hosts",
        "nats.example.org,192.0.2.7",
        "--dir",
        certs,
      ]);
      assert.equal(server.code, 0, server.stderr);
      for (const key of ["agent-build-b.key", "nats.key"])
        assert.equal((await stat(join(certs, key))).mode & 0o777, 0o600, key);
      const ca = join(certs, "ca.crt");
      for (const crt of ["agent-build-b.crt", "nats.crt"])
        await run("openssl", ["verify", "-CAfile", ca, join(certs, crt)]);
      assert.match(
        await x509(join(certs, "agent-build-b.crt"), "-subject"),
        /CN ?= ?stagefarm agent build-b/,
      );
      assert.match(
        await x509(join(certs, "agent-build-b.crt"), "-ext", "extendedKeyUsage"),
        /TLS Web Client Authentication/,
      );
      const sans = await x509(join(certs, "nats.crt"), "-ext", "subjectAltName");
      assert.match(sans, /DNS:nats\.example\.org/);
      assert.match(sans, /IP Address:192\.0\.2\.7/);
      // Keys are never replaced.
      const again = await runCleanCli(["certs", "agent", "build-b", "--dir", certs]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /exists: a key is never replaced/);

      const before = {
        serial: await x509(join(certs, "server.crt"), "-serial"),
        pubkey: await x509(join(certs, "server.crt"), "-pubkey"),
        sans: await x509(join(certs, "server.crt"), "-ext", "subjectAltName"),
      };
      const renew = await runCleanCli(["certs", "renew", certs, "--days", "30"]);
      assert.equal(renew.code, 0, renew.stderr);
      for (const name of ["agent", "agent-build-b", "client", "nats", "server"])
        assert.ok(renew.stdout.includes(`renewed ${join(certs, `${name}.crt`)}`), `${name} renewed`);
      assert.ok(!renew.stdout.includes("ca.crt"), "the CA is not a leaf");
      const server2 = join(certs, "server.crt");
      await run("openssl", ["verify", "-CAfile", ca, server2]);
      assert.notEqual(await x509(server2, "-serial"), before.serial);
      assert.equal(await x509(server2, "-pubkey"), before.pubkey);
      assert.equal(await x509(server2, "-ext", "subjectAltName"), before.sans);
      assert.match(before.sans, /DNS:farm\.example\.org/);
      // 30 days from now, within a day.
      const end = Date.parse((await x509(server2, "-enddate")).replace(/^notAfter=/, "").trim());
      assert.ok(Math.abs(end - (Date.now() + 30 * 86_400_000)) < 86_400_000, `notAfter ${end}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the coordinator re-reads its auth file on SIGHUP", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-hup-"));
    let coordinator: FarmProcess | undefined;
    await using nats = await startNatsServer();
    await using s3 = await startS3rver();
    try {
      const certs = join(dir, "tls");
      const [init, ...made] = await Promise.all([
        runCleanCli(["certs", "init", certs]),
        runCleanCli(["certs", "token", "--role", "viewer", "--name", "keep", "--json"]),
        runCleanCli(["certs", "token", "--role", "viewer", "--name", "revoke", "--json"]),
      ]);
      assert.equal(init?.code, 0, init?.stderr);
      const [keep, revoke] = made.map(
        (r) => JSON.parse(r.stdout) as { name: string; token: string; sha256: string },
      );
      assert.ok(keep !== undefined && revoke !== undefined);
      const line = (t: { name: string; sha256: string }): string =>
        `  - { name: ${t.name}, role: viewer, sha256: ${t.sha256} }`;
      const auth = join(dir, "auth.yaml");
      await writeFile(auth, `tokens:\n${line(keep)}\n${line(revoke)}\n`, { mode: 0o600 });
      // prettier-ignore
      const args = [
        "coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--tls-cert", join(certs, "server.crt"), "--tls-key", join(certs, "server.key"), "--auth", auth,
      ];
      const c = new FarmProcess(
        "coordinator",
        spawn(process.execPath, [cliPath, ...args], {
          cwd: repoRoot,
          stdio: ["ignore", "pipe", "pipe"],
          env: cleanCliEnv({
            STAGEFARM_NATS_URL: nats.url,
            STAGEFARM_S3_URL: s3.url,
            STAGEFARM_PREFIX: `hup${randomBytes(4).toString("hex")}`,
          }),
        }),
      );
      coordinator = c;
      const { grpcPort } = await coordinatorPorts(c);
      assert.match(c.output, /gRPC on .*HTTP on https:\/\//);
      const as = (t: { token: string }): Record<string, string> => ({
        STAGEFARM_COORDINATOR: `localhost:${grpcPort}`,
        STAGEFARM_CA: join(certs, "ca.crt"),
        STAGEFARM_TOKEN: t.token,
      });
      const [k1, r1] = await Promise.all([
        runCleanCli(["runs", "--json"], as(keep)),
        runCleanCli(["runs", "--json"], as(revoke)),
      ]);
      assert.equal(k1?.code, 0, k1?.stderr);
      assert.equal(r1?.code, 0, r1?.stderr);

      // Revoke: the line goes, SIGHUP, the token is refused from then on; the other still works.
      await writeFile(auth, `tokens:\n${line(keep)}\n`, { mode: 0o600 });
      c.signal("SIGHUP");
      await poll(() => (c.logRecords.some((r) => r["msg"] === "auth file reloaded") ? true : undefined), {
        timeoutMs: 10_000,
        what: "the reload to be logged",
        intervalMs: 100,
      });
      const [k2, r2] = await Promise.all([
        runCleanCli(["runs", "--json"], as(keep)),
        runCleanCli(["runs", "--json"], as(revoke)),
      ]);
      assert.equal(k2?.code, 0, k2?.stderr);
      assert.equal(r2?.code, 2, r2?.stderr);
      assert.match(r2?.stderr ?? "", /unknown token/);

      // A broken file is refused and logged; the tokens in force stay.
      await writeFile(auth, "tokens: [ { name: x } ]\n", { mode: 0o600 });
      c.signal("SIGHUP");
      await poll(
        () =>
          c.logRecords.some((r) => r["msg"] === "auth file refused; the previous one stays in force")
            ? true
            : undefined,
        { timeoutMs: 10_000, what: "the refusal to be logged", intervalMs: 100 },
      );
      const k3 = await runCleanCli(["runs", "--json"], as(keep));
      assert.equal(k3.code, 0, k3.stderr);
      assert.ok(c.alive, "SIGHUP does not end the coordinator");
      await c.stop("SIGTERM", 20_000);
      assert.equal(c.status, "exit 143", c.output);
    } finally {
      await coordinator?.stop("SIGKILL", 5000);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
