/**
 * The security setup end to end, with the built CLI as processes: `stagefarm certs init` and
 * `certs token` make the files; a coordinator (real nats-server and s3rver) serves gRPC with
 * mutual TLS and HTTPS, both behind the tokens; clients using the CA, their certificate and a
 * token are served by role, and refused with a message saying what to fix when a piece is
 * missing (token, role, client certificate, TLS at all), the coordinator logging each refusal.
 * A coordinator asked to listen on every interface without TLS and tokens refuses to start.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanCliEnv, cliPath, repoRoot, runCleanCli } from "../helpers/cli.js";
import { coordinatorPorts, FarmProcess } from "../helpers/farm-process.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startS3rver } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

interface TokenJson {
  name: string;
  role: string;
  token: string;
  sha256: string;
}

describe("certs init + a TLS coordinator with tokens (processes)", () => {
  test("clients are served by role over mutual TLS; every missing piece is refused and logged", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-auth-e2e-"));
    const certs = join(dir, "certs");
    let coordinator: FarmProcess | undefined;
    await using nats = await startNatsServer();
    await using s3 = await startS3rver();
    try {
      // Independent CLI runs go in parallel: each costs a node start.
      const [init, ...made] = await Promise.all([
        runCleanCli(["certs", "init", certs, "--hosts", "farm.example"], {}),
        ...["viewer", "submitter"].map((role) =>
          runCleanCli(["certs", "token", "--role", role, "--name", `${role}-1`, "--json"], {}),
        ),
      ]);
      assert.equal(init?.code, 0, init?.stderr);
      for (const key of ["ca.key", "server.key", "agent.key", "client.key"])
        assert.equal((await stat(join(certs, key))).mode & 0o777, 0o600, key);
      assert.equal((await stat(certs)).mode & 0o777, 0o700);
      const tokens: Record<string, TokenJson> = {};
      for (const r of made) {
        assert.equal(r.code, 0, r.stderr);
        const t = JSON.parse(r.stdout) as TokenJson;
        tokens[t.role] = t;
      }
      const auth = join(dir, "auth.yaml");
      const entries = Object.values(tokens).map(
        (t) => `  - { name: ${t.name}, role: ${t.role}, sha256: ${t.sha256} }`,
      );
      await writeFile(auth, `tokens:\n${entries.join("\n")}\n`, { mode: 0o600 });

      const serveEnv = {
        STAGEFARM_NATS_URL: nats.url,
        STAGEFARM_S3_URL: s3.url,
        STAGEFARM_PREFIX: `auth${randomBytes(4).toString("hex")}`,
      };
      // prettier-ignore
      const args = [
        "coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--tls-cert", join(certs, "server.crt"), "--tls-key", join(certs, "server.key"),
        "--tls-client-ca", join(certs, "ca.crt"), "--auth", auth,
      ];
      coordinator = new FarmProcess(
        "coordinator",
        spawn(process.execPath, [cliPath, ...args], {
          cwd: repoRoot,
          env: cleanCliEnv(serveEnv),
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
      const c = coordinator;
      const { grpcPort, httpPort } = await coordinatorPorts(c);
      assert.match(c.output, /gRPC on .*HTTP on https:\/\//);

      // The name in the server certificate, not the IP: node warns about IP addresses as TLS names.
      const client = {
        STAGEFARM_COORDINATOR: `localhost:${grpcPort}`,
        STAGEFARM_CA: join(certs, "ca.crt"),
        STAGEFARM_CERT: join(certs, "client.crt"),
        STAGEFARM_KEY: join(certs, "client.key"),
      };
      const as = (role: string): Record<string, string> => ({
        ...client,
        STAGEFARM_TOKEN: tokens[role]?.token ?? "",
      });
      const refusedCalls = (): number => c.logRecords.filter((r) => r["msg"] === "refused a call").length;

      const pipeline = join(dir, "p.yaml");
      await writeFile(pipeline, "pipeline: p\nstages:\n  s:\n    runner: shell\n    script: echo hi\n");
      const { STAGEFARM_CERT: _c, STAGEFARM_KEY: _k, ...withoutCert } = as("viewer");
      const [runs, denied, noToken, noCert, plain, submitted] = await Promise.all([
        runCleanCli(["runs", "--json"], as("viewer")),
        runCleanCli(["submit", pipeline, "--json"], as("viewer")),
        runCleanCli(["runs"], client),
        runCleanCli(["runs"], withoutCert),
        runCleanCli(["runs"], { STAGEFARM_COORDINATOR: `127.0.0.1:${grpcPort}` }),
        runCleanCli(["submit", pipeline, "--json"], as("submitter")),
      ]);
      assert.ok(runs && denied && noToken && noCert && plain && submitted);
      assert.equal(runs.code, 0, runs.stderr);
      // The submission runs alongside: the list is empty or holds that run.
      const listed = JSON.parse(runs.stdout) as Array<{ pipeline: string }>;
      assert.ok(listed.length <= 1 && listed.every((r) => r.pipeline === "p"), runs.stdout);
      assert.equal(denied.code, 2, denied.stderr);
      assert.match(denied.stderr, /token viewer-1 has role viewer; SubmitRun needs submitter/);
      assert.equal(noToken.code, 2);
      assert.match(noToken.stderr, /needs a token: pass --token or set STAGEFARM_TOKEN/);
      await poll(() => (refusedCalls() >= 2 ? true : undefined), {
        timeoutMs: 5000,
        what: "two refused calls in the log",
        intervalMs: 100,
      });

      assert.equal(submitted.code, 0, submitted.stderr);
      const { run } = JSON.parse(submitted.stdout.trim().split("\n").pop() ?? "") as { run: string };
      const cancelled = await runCleanCli(["cancel", run, "--json"], as("submitter"));
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal((JSON.parse(cancelled.stdout) as { status: string }).status, "cancelled");

      assert.equal(noCert.code, 1, noCert.stderr);
      assert.match(noCert.stderr, /--cert and --key; the coordinator logs why/);
      await poll(
        () =>
          c.logRecords.find(
            (r) => r["msg"] === "refused a TLS connection" && /sent no certificate/.test(String(r["reason"])),
          ),
        { timeoutMs: 5000, what: "the coordinator to log the refused TLS connection", intervalMs: 100 },
      );
      assert.equal(plain.code, 1);
      assert.match(plain.stderr, /does it use TLS \(then pass --ca\)/);

      const ca = await readFile(join(certs, "ca.crt"));
      const metrics = (headers: Record<string, string>): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = httpsRequest(`https://localhost:${httpPort}/metrics`, { ca, headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        });
      assert.equal(await metrics({}), 401);
      assert.equal(await metrics({ authorization: `Bearer ${tokens["viewer"]?.token ?? ""}` }), 200);

      const text = c.output;
      for (const t of Object.values(tokens))
        assert.ok(!text.includes(t.token), "a token reached the coordinator's output");

      await c.stop("SIGTERM", 10_000);
      assert.equal(c.status, "exit 143");
    } catch (err: unknown) {
      if (coordinator !== undefined && err instanceof Error)
        err.message += `\n--- coordinator ---\n${coordinator.output.slice(-6000)}`;
      throw err;
    } finally {
      await coordinator?.stop("SIGKILL", 5000);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a coordinator on every interface without TLS and tokens refuses to start, saying what to add", async () => {
    const r = await runCleanCli(["coordinator", "--listen", "0.0.0.0:7420", "--http", "127.0.0.1:0"], {
      STAGEFARM_S3_URL: "http://a:b@127.0.0.1:9/none",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to serve:/);
    assert.match(r.stderr, /gRPC on 0\.0\.0\.0:7420 \(--listen\) is reachable from other hosts without TLS/);
    assert.match(r.stderr, /without authentication: .*pass --auth FILE/);
    assert.match(r.stderr, /--insecure to accept the risk/);
    assert.ok(!r.stderr.includes(":b@"), "the S3 secret is not echoed");
  });
});
