/**
 * The NATS cluster option of deploy/nats/cluster/: three nats-server processes on loopback from
 * the shipped node configuration (only its placeholders filled: node name, paths, ports, the
 * routes' host names), routes over mutual TLS with the farm CA of `stagefarm certs init`. A
 * coordinator with STAGEFARM_NATS_REPLICAS=3 makes its job stream with three replicas and
 * brings the KV bucket and event stream, left with one replica before it started, to three; an
 * agent runs a fan-out; the node leading the KV bucket is killed mid-run (the coordinator's KV
 * writes meet the election: 503s, timeouts); the run finishes with every stage done once, none
 * failed, and the right output.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { sha256 } from "../../shared/digest.js";
import { silentLogger } from "../../shared/log.js";
import type { NatsConnection } from "nats";
import {
  connectNats,
  createNkeyUser,
  kvBucketName,
  NatsEventLog,
  NatsKvStore,
  natsUserBlock,
  readNatsCredentials,
} from "../../shared/nats/index.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { cliPath, repoRoot } from "../helpers/cli.js";
import { render } from "../helpers/deploy-files.js";
import {
  coordinatorPorts,
  FarmProcess,
  fanoutExpected,
  fanoutPipeline,
  type RunSummary,
} from "../helpers/farm-process.js";
import { freePort } from "../helpers/free-port.js";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { startS3rver } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

const run = promisify(execFile);
const PREFIX = "sf";

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

function spawnCli(name: string, args: string[], env: Record<string, string>): FarmProcess {
  return new FarmProcess(
    name,
    spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: cleanEnv(env),
    }),
  );
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

describe("NATS cluster (3 nodes from deploy/nats/cluster)", () => {
  test("R3 streams and KV; a node killed mid-run; the run finishes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-nats-cluster-"));
    const nodes: NatsServerHandle[] = [];
    const procs: FarmProcess[] = [];
    await using s3 = await startS3rver();
    try {
      const tls = join(dir, "tls");
      await run(process.execPath, [cliPath, "certs", "init", tls], { cwd: repoRoot });
      const users = { coordinator: createNkeyUser(), agent: createNkeyUser() };
      const creds = { coordinator: join(dir, "coordinator.creds"), agent: join(dir, "agent.creds") };
      await writeFile(creds.coordinator, `${users.coordinator.seed}\n`, { mode: 0o600 });
      await writeFile(creds.agent, `${users.agent.seed}\n`, { mode: 0o600 });
      const usersConf = `users = [\n${natsUserBlock({ role: "coordinator", prefix: PREFIX, nkey: users.coordinator.publicKey })}\n${natsUserBlock(
        {
          role: "agent",
          prefix: PREFIX,
          nkey: users.agent.publicKey,
          agentId: "build-1",
          labels: ["x86_64"],
        },
      )}\n]\n`;

      const shipped = await readFile(join(repoRoot, "deploy/nats/cluster/nats-server.conf"), "utf8");
      // freePort stays here: every node's configuration names its peers' route ports before any
      // of them starts, so they cannot bind port 0 and report it (client and monitoring ports do).
      const routePorts = [await freePort(), await freePort(), await freePort()];
      assert.equal(new Set(routePorts).size, 3);
      const configs = await Promise.all(
        [1, 2, 3].map(async (n) => {
          const nodeDir = join(dir, `nats-${n}`);
          await mkdir(nodeDir);
          const conf = render(
            shipped,
            [
              ["@NODE_NAME@", `nats-${n}`],
              ["/etc/nats/tls", tls],
              ["store_dir: /var/lib/nats", `store_dir: ${JSON.stringify(join(nodeDir, "js"))}`],
              ["listen: 0.0.0.0:6222", `listen: 127.0.0.1:${routePorts[n - 1]}`],
              ...[1, 2, 3].map((m): [string, string] => [
                `nats-${m}.example.org:6222`,
                `127.0.0.1:${routePorts[m - 1]}`,
              ]),
            ],
            `cluster node ${n}`,
          );
          await writeFile(join(nodeDir, "nats-server.conf"), conf);
          await writeFile(join(nodeDir, "stagefarm-users.conf"), usersConf);
          return { file: join(nodeDir, "nats-server.conf"), storeDir: join(nodeDir, "js") };
        }),
      );
      // Started together: each waits for its routes.
      const started = await Promise.allSettled(configs.map((config) => startNatsServer({ config })));
      for (const r of started) if (r.status === "fulfilled") nodes.push(r.value);
      for (const r of started) if (r.status === "rejected") throw r.reason;
      await poll(
        async () => {
          const all = await Promise.all(
            nodes.map(async (node) => {
              const res = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`);
              return (await res.json()) as Jsz;
            }),
          );
          return all.every((j) => (j.meta_cluster?.leader ?? "") !== "" && j.meta_cluster?.cluster_size === 3)
            ? true
            : undefined;
        },
        { timeoutMs: 30_000, what: "the JetStream cluster to elect a leader", intervalMs: 100 },
      );

      const natsUrl = nodes.map((node) => `tls://127.0.0.1:${node.port}`).join(",");
      const connectAsCoordinator = async (): Promise<NatsConnection> =>
        connectNats(natsUrl, {
          name: "test",
          logger: silentLogger(),
          inboxPrefix: subjects(PREFIX).inbox(),
          tls: { caFile: join(tls, "ca.crt") },
          auth: await readNatsCredentials(creds.coordinator),
        });
      // A farm that grows into the cluster: its KV bucket and event stream exist with one replica
      // (made by the same code with the default), the coordinator must bring them to three.
      {
        const nc = await connectAsCoordinator();
        try {
          const kv = await NatsKvStore.open(nc, kvBucketName(PREFIX));
          const events = await NatsEventLog.open(nc, { prefix: PREFIX });
          await Promise.all([kv.close(), events.close()]);
          const jsm = await nc.jetstreamManager();
          assert.equal((await jsm.streams.info("KV_sf_state")).config.num_replicas, 1);
        } finally {
          await nc.close();
        }
      }
      const farmEnv = {
        STAGEFARM_NATS_URL: natsUrl,
        STAGEFARM_NATS_CA: join(tls, "ca.crt"),
        STAGEFARM_S3_URL: s3.url,
        STAGEFARM_PREFIX: PREFIX,
        STAGEFARM_JOB_ACK_WAIT: "3s",
      };
      const coordinator = spawnCli(
        "coordinator",
        ["coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        { ...farmEnv, STAGEFARM_NATS_CREDS: creds.coordinator, STAGEFARM_NATS_REPLICAS: "3" },
      );
      procs.push(coordinator);
      const workDir = join(dir, "work");
      await mkdir(workDir);
      const agent = spawnCli("agent build-1", ["agent"], {
        ...farmEnv,
        STAGEFARM_NATS_CREDS: creds.agent,
        STAGEFARM_AGENT_ID: "build-1",
        STAGEFARM_LABELS: "x86_64",
        STAGEFARM_SLOTS: "3",
        STAGEFARM_WORK_DIR: workDir,
        STAGEFARM_HEARTBEAT: "500ms",
        STAGEFARM_DRAIN_TIMEOUT: "1s",
      });
      procs.push(agent);
      const { grpcPort } = await coordinatorPorts(coordinator, 60_000);
      await poll(
        () => {
          if (!agent.alive) throw new Error(`${agent.name} ${agent.status}:\n${agent.output}`);
          return /stagefarm agent build-1: labels/.test(agent.output) ? true : undefined;
        },
        { timeoutMs: 60_000, what: `${agent.name} to start`, intervalMs: 100 },
      );

      // The coordinator made everything with three replicas; find the KV bucket's leader.
      const nc = await connectAsCoordinator();
      // The victim is the KV bucket's leader: the coordinator's KV writes get 503s and timeouts
      // while the other two elect a new one, and must be delayed by them, never failed.
      // Streams brought from one replica to three settle first (a peer list can briefly name a
      // fourth peer while the move completes).
      let kvLeader = "";
      try {
        const jsm = await nc.jetstreamManager();
        for (const stream of ["SF_JOBS", "SF_EVENTS", "KV_sf_state"]) {
          const info = await poll(
            async () => {
              const i = await jsm.streams.info(stream);
              return i.cluster?.replicas?.length === 2 && (i.cluster.leader ?? "") !== "" ? i : undefined;
            },
            { timeoutMs: 30_000, what: `${stream} to have a leader and two followers`, intervalMs: 100 },
          );
          assert.equal(info.config.num_replicas, 3, `${stream} replicas`);
          if (stream === "KV_sf_state") kvLeader = info.cluster?.leader ?? "";
        }
      } finally {
        await nc.close();
      }
      const victim = Number(/^nats-(\d)$/.exec(kvLeader)?.[1] ?? "0");
      assert.ok(victim >= 1 && victim <= 3, `the KV leader ${JSON.stringify(kvLeader)} is a node`);

      const token = `c${Date.now()}`;
      const pipeline = join(dir, "fan.yaml");
      await writeFile(pipeline, fanoutPipeline(token, 3, 3));
      const submit = spawnCli("submit", ["submit", pipeline, "--watch", "--json"], {
        STAGEFARM_COORDINATOR: `127.0.0.1:${grpcPort}`,
      });
      procs.push(submit);
      // Mid-run: the root stage is done and the leaves are sleeping.
      await poll(() => (agent.logRecords.some((r) => r["msg"] === "stage succeeded") ? true : undefined), {
        timeoutMs: 60_000,
        what: "the first stage to finish",
        intervalMs: 100,
      });
      await nodes[victim - 1]?.kill();
      const ended = await submit.ended(120_000).catch((err: unknown) => {
        throw new Error(
          `the run did not finish after nats-${victim} was killed\n--- coordinator\n${coordinator.output}\n--- agent\n${agent.output}\n--- submit\n${submit.output}`,
          { cause: err },
        );
      });
      assert.equal(ended.code, 0, submit.output);
      const summary = JSON.parse(submit.stdout.trim().split("\n").pop() ?? "") as RunSummary;
      assert.equal(summary.status, "succeeded");
      assert.deepEqual(summary.stages, { executed: 5, cached: 0, failed: 0, skipped: 0, cancelled: 0 });
      assert.equal(summary.results["join"]?.outputs["all"]?.digest, sha256(fanoutExpected(token, 3)));
      assert.ok(coordinator.alive && agent.alive, "both rode out the node's loss");
    } finally {
      await Promise.all(procs.map((p) => p.stop("SIGKILL", 5000)));
      await Promise.allSettled(nodes.map((node) => node[Symbol.asyncDispose]()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
