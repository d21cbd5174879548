/**
 * The built CLI against a nats-server running the shipped permissioned configuration: the
 * coordinator (credentials from STAGEFARM_NATS_CREDS / STAGEFARM_NATS_CA) and two agents
 * (`--nats-creds`, `--nats-ca`), each its own nkey user over TLS, run a pipeline submitted with
 * `stagefarm submit`; an agent whose credentials file others can read does not start (exit 2,
 * the fix named); an agent started with another agent's --id under build-1's user is refused
 * by the server at once (its inbox) and does not start; the coordinator lists only the two.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { cliPath, repoRoot } from "../helpers/cli.js";
import { coordinatorPorts, FarmProcess, type RunSummary } from "../helpers/farm-process.js";
import { startAuthNats } from "../helpers/nats-auth.js";
import { startS3rver } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: authcli
stages:
  prep:
    runner: shell
    script: mkdir -p out && echo prep > out/p
    outputs: { p: out/p }
  cat:
    runner: shell
    requires: [catalyst]
    inputs: { p: { from: prep.p, unpack: false } }
    script: mkdir -p out && cat inputs/p > out/x && echo catalyst >> out/x
    outputs: { x: out/x }
`;

describe("the CLI under the shipped NATS permissions", () => {
  test(
    "coordinator and agents with their own credentials run a pipeline; bad credentials are refused",
    { timeout: 180_000 },
    async () => {
      await using nats = await startAuthNats();
      await using s3 = await startS3rver();
      const dir = await mkdtemp(join(tmpdir(), "sf-auth-cli-"));
      // The coordinator binds port 0; the clients started after it get the port it printed.
      let grpc = "127.0.0.1:0";
      const processes: FarmProcess[] = [];
      const baseEnv: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) baseEnv[k] = v;
      const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
        ...baseEnv,
        NO_COLOR: "1",
        STAGEFARM_NATS_URL: nats.url,
        STAGEFARM_S3_URL: s3.url,
        STAGEFARM_PREFIX: nats.prefix,
        STAGEFARM_COORDINATOR: grpc,
        STAGEFARM_HEARTBEAT: "300ms",
        STAGEFARM_DRAIN_TIMEOUT: "1s",
        STAGEFARM_STORE: join(dir, "client-store"),
        ...extra,
      });
      const start = (name: string, args: string[], extra: Record<string, string> = {}): FarmProcess => {
        const child = spawn(process.execPath, [cliPath, ...args], {
          cwd: repoRoot,
          env: env(extra),
          stdio: ["ignore", "pipe", "pipe"],
        });
        const p = new FarmProcess(name, child);
        processes.push(p);
        return p;
      };
      const agentArgs = async (id: string, creds: string, labels: string): Promise<string[]> => {
        const workDir = join(dir, "agents", id);
        await mkdir(workDir, { recursive: true });
        return [
          "agent",
          "--id",
          id,
          "--labels",
          labels,
          "--work-dir",
          workDir,
          "--nats-creds",
          creds,
          "--nats-ca",
          nats.certs.ca,
        ];
      };
      const cli = async (args: string[]): Promise<{ code: number | null; out: string }> => {
        const p = start(`cli ${args[0] ?? ""}`, args);
        const { code } = await p.ended(120_000);
        return { code, out: p.output };
      };
      const diagnostics = (): string =>
        processes.map((p) => `--- ${p.name} (${p.status})\n${p.output}`).join("\n");
      try {
        const coordinator = start("coordinator", ["coordinator", "--listen", grpc, "--http", "127.0.0.1:0"], {
          STAGEFARM_NATS_CREDS: nats.credsFile("coordinator"),
          STAGEFARM_NATS_CA: nats.certs.ca,
          STAGEFARM_LEASE_TTL: "5s",
        });
        const { grpcPort } = await coordinatorPorts(coordinator).catch((err: unknown) =>
          assert.fail(`${String(err)}\n${diagnostics()}`),
        );
        grpc = `127.0.0.1:${grpcPort}`;
        for (const [id, labels] of [
          ["build-1", "x86_64"],
          ["build-2", "catalyst,x86_64"],
        ] as const) {
          // `catalyst` names a pool here, not a Catalyst host: keep the label without its tools.
          const agent = start(`agent ${id}`, await agentArgs(id, nats.credsFile(id), labels), {
            STAGEFARM_MISSING_TOOLS: "warn",
          });
          await poll(() => (/stagefarm agent /.test(agent.output) ? true : undefined), {
            timeoutMs: 30_000,
            what: `agent ${id}`,
            intervalMs: 100,
          }).catch((err: unknown) => assert.fail(`${String(err)}\n${diagnostics()}`));
        }
        const file = join(dir, "authcli.yaml");
        await writeFile(file, PIPELINE);
        const submitted = await cli(["submit", file, "--watch", "--json"]);
        assert.equal(submitted.code, 0, diagnostics());
        const summary = JSON.parse(submitted.out.trim().split("\n").pop() ?? "") as RunSummary;
        assert.equal(summary.status, "succeeded");
        assert.equal(summary.results["cat"]?.agent, "build-2");

        // A credentials file other users can read: the agent does not start.
        const loose = join(dir, "loose.creds");
        await copyFile(nats.credsFile("build-1"), loose);
        await chmod(loose, 0o644);
        const refused = start("agent loose", await agentArgs("build-1", loose, "x86_64"));
        const ended = await refused.ended(30_000);
        assert.equal(ended.code, 2, refused.output);
        assert.match(
          refused.output,
          /NATS credentials file .*loose\.creds is accessible to other users \(mode 0644\): run `chmod 600 /,
        );

        // build-1's user running as build-9: the server refuses build-9's inbox; the agent does not start.
        const impostor = start(
          "agent impostor",
          await agentArgs("build-9", nats.credsFile("build-1"), "x86_64"),
        );
        const impostorEnd = await impostor.ended(30_000);
        assert.equal(impostorEnd.code, 2, impostor.output);
        assert.match(
          impostor.output,
          /agent build-9: .*Permissions Violation for Subscription to "_INBOX\.sf\.agent\.build-9\..*the NATS user of --nats-creds may not use agent build-9's subjects/,
        );
        assert.match(
          nats.server.output(),
          /Subscription Violation - Nkey "U[A-Z2-7]+", Subject "_INBOX\.sf\.agent\.build-9\./,
        );
        const agents = await cli(["agents", "--json"]);
        assert.equal(agents.code, 0, agents.out);
        const ids = (JSON.parse(agents.out.trim().split("\n").pop() ?? "[]") as Array<{ id: string }>).map(
          (a) => a.id,
        );
        assert.deepEqual(ids.sort(), ["build-1", "build-2"]);
      } finally {
        await Promise.allSettled(processes.map((p) => p.stop("SIGTERM", 5_000)));
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
