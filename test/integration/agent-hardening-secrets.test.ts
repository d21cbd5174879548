/**
 * The agent's credentials never reach a stage: a real `stagefarm agent` process, started with
 * credentials in its own environment (S3 URL with a secret key, NATS URL with a password,
 * STAGEFARM_TOKEN, a NATS password variable, an AWS secret), runs a shell stage and a chroot
 * stage that print `env` and `/proc/self/environ` into their logs and outputs. No secret (nor
 * the name of a variable holding one) appears in the stored logs, the outputs, the agent's own
 * log output, the coordinator's or the CLI's. The agent's environment really holds them: its
 * /proc/PID/environ is checked too, so the test cannot pass by not setting them.
 *
 * The farm is the e2e harness's (nats-server, s3rver, `stagefarm coordinator`); the agent is
 * spawned here so that its environment is the test's to choose.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { describe, test } from "node:test";
import { S3ArtifactStore } from "../../shared/store/testing.js";
import { cliPath, repoRoot } from "../helpers/cli.js";
import { debootstrapCache } from "../helpers/debootstrap.js";
import { FarmProcess, withFarm, type RunSummary } from "../helpers/farm-processes.js";

const PRINT_ENV = [
  "echo '--- env'",
  "env | sort",
  "echo '--- /proc/self/environ'",
  "cat /proc/self/environ | tr '\\0' '\\n' | sort",
  "echo '--- /proc/$$/environ (the script shell)'",
  "tr '\\0' '\\n' < /proc/$$/environ | sort",
  "echo '--- end'",
].join("\n");

void describe("secrets stay out of stages", { timeout: 900_000 }, () => {
  test("a stage printing its environment shows none of the agent's credentials", async () => {
    const { archive } = await debootstrapCache();
    await withFarm({}, async (farm) => {
      const hex = (): string => randomBytes(12).toString("hex");
      const secrets = {
        s3Secret: `s3sk-${hex()}`,
        natsPassword: `natspw-${hex()}`,
        token: `sftok-${hex()}`,
        natsPasswordVar: `natsvar-${hex()}`,
        awsSecret: `aws-${hex()}`,
      };
      const { bucket } = farm.s3.config;
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
      Object.assign(env, {
        NO_COLOR: "1",
        SF_E2E_FARM: farm.prefix,
        STAGEFARM_NATS_URL: farm.nats.url.replace("nats://", `nats://agent:${secrets.natsPassword}@`),
        STAGEFARM_S3_URL: `http://S3RVER:${secrets.s3Secret}@127.0.0.1:${farm.s3.port}/${bucket}`,
        STAGEFARM_PREFIX: farm.prefix,
        STAGEFARM_TOKEN: secrets.token,
        STAGEFARM_NATS_PASSWORD: secrets.natsPasswordVar,
        AWS_SECRET_ACCESS_KEY: secrets.awsSecret,
        STAGEFARM_HEARTBEAT: "500ms",
        STAGEFARM_DRAIN_TIMEOUT: "1s",
      });
      const workDir = join(farm.dir, "agents", "holder");
      await mkdir(workDir, { recursive: true });
      const child = spawn(
        process.execPath,
        [
          cliPath,
          "agent",
          "--id",
          "holder",
          "--labels",
          "x86_64,chroot",
          "--slots",
          "2",
          "--work-dir",
          workDir,
        ],
        { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] },
      );
      const agent = new FarmProcess("agent holder", child);
      farm.processes.push(agent);
      farm.agents.set("holder", agent);
      await farm.waitForLog(agent, /stagefarm agent /, 30_000);

      const own = await readFile(`/proc/${agent.pid}/environ`, "utf8");
      for (const [name, value] of Object.entries(secrets))
        assert.ok(own.includes(value), `the agent's own environment holds ${name}`);

      const store = await S3ArtifactStore.open(farm.s3.config);
      try {
        const rootfs = await store.putBlobFile(archive);
        const file = await farm.writePipeline(
          "env.yaml",
          `pipeline: secrets
stages:
  shell-env:
    runner: shell
    script: |
      mkdir -p out
      { ${PRINT_ENV.split("\n").join("; ")}; } | tee out/env
    outputs: { env: out/env }
  chroot-env:
    runner: chroot
    requires: [chroot]
    inputs: { base: { artifact: "${rootfs.digest}", unpack: true, path: rootfs } }
    script: |
      { ${PRINT_ENV.split("\n").join("; ")}; } | tee /env
    outputs: { env: rootfs/env }
`,
        );
        const submit = await farm.cli(["submit", file, "--watch", "--json"], { timeoutMs: 600_000 });
        assert.equal(submit.code, 0, submit.stderr);
        const summary = JSON.parse(submit.stdout) as RunSummary;
        assert.equal(summary.status, "succeeded", submit.stdout);

        /** What was read, and whether a stage could have written it. */
        const seen: Array<[string, string, boolean]> = [
          ["agent output", agent.output, false],
          ["coordinator output", farm.coordinator?.output ?? "", false],
          ["submit output", submit.stdout + submit.stderr, true],
        ];
        for (const stage of ["shell-env", "chroot-env"]) {
          const env = summary.results[stage]?.outputs["env"];
          assert.ok(env !== undefined, `${stage} has its env output`);
          const printed = await text(await store.getBlob(env.digest));
          seen.push([`${stage} output`, printed, true]);
          assert.match(
            printed,
            new RegExp(`^STAGEFARM_STAGE=${stage}$`, "m"),
            `${stage} printed its environment`,
          );
          assert.match(
            printed,
            new RegExp(`--- /proc/self/environ\n(.+\n)*STAGEFARM_STAGE=${stage}\n(.+\n)*--- /proc/`),
            `${stage} printed /proc/self/environ`,
          );
          const logs = await farm.cli(["logs", summary.run, stage]);
          assert.equal(logs.code, 0, logs.stderr);
          assert.ok(
            logs.stdout.includes(`STAGEFARM_STAGE=${stage}`),
            `${stage}'s stored log holds what it printed`,
          );
          seen.push([`${stage} log (CLI)`, logs.stdout, true]);
        }
        // The logs and their line-times indexes (offsets and times only: read all the same).
        for await (const log of store.listLogs(`logs/${summary.run}/`))
          seen.push([log.path, await text(await store.getLog(log.path)), log.path.endsWith(".log")]);
        assert.equal(
          seen.filter(([w]) => w.startsWith("logs/") && w.endsWith(".log")).length,
          2,
          "both stored logs were read",
        );
        for (const [where, content, fromStage] of seen) {
          for (const [name, value] of Object.entries(secrets))
            assert.ok(!content.includes(value), `${name} appears in the ${where}`);
          if (fromStage)
            for (const variable of [
              "STAGEFARM_S3_URL",
              "STAGEFARM_NATS_URL",
              "STAGEFARM_TOKEN",
              "AWS_SECRET_ACCESS_KEY",
            ])
              assert.ok(!content.includes(`${variable}=`), `${variable} appears in the ${where}`);
        }
      } finally {
        await store.close();
      }
    });
  });
});
