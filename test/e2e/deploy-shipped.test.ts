/**
 * The 3-host farm of deploy/README.md, on loopback, from the shipped files as they are: host A
 * runs NATS (deploy/nats/nats-server.conf), the S3 store (s3rver standing in for MinIO) and the
 * coordinator (deploy/systemd/stagefarm-coordinator.service + deploy/env/coordinator.env); host B
 * an `x86_64,chroot` agent from the systemd unit and deploy/env/agent.env; host C an
 * `x86_64,catalyst` agent from the OpenRC script and its conf.d (evaluated by /bin/sh as
 * openrc-run would) with the same env file as the README tells host C to change it. Only the
 * documented placeholders are filled: host names → 127.0.0.1, ports → free ports, the install
 * prefix → this checkout (whose bin/stagefarm is the release's launcher), /etc and /var/lib →
 * per-host temp dirs, secrets → what the README's commands made (`stagefarm certs init`,
 * `certs token`, `nats user`), the S3 URL → the test server's. The processes get no other
 * environment than the files' (and PATH). An operator CLI set up from deploy/env/operator.env
 * submits a pipeline whose stages need each agent; Prometheus, from the shipped prometheus.yml
 * (HTTPS with the farm CA and a bearer token file) and the agents' file_sd example, scrapes all
 * three. Any drift between the files and the code fails here. The units also pass
 * `systemd-analyze verify`, the init scripts `sh -n` (and openrc-run where it is installed).
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/cli.js";
import {
  environmentFiles,
  evalOpenrcService,
  execStartArgv,
  parseEnvFile,
  parseUnit,
  render,
  retryGraceSeconds,
  timeSpanSeconds,
  unitValue,
} from "../helpers/deploy-files.js";
import { coordinatorPorts, FarmProcess, type RunSummary } from "../helpers/farm-process.js";
import { freePort } from "../helpers/free-port.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { promtool, startPrometheus } from "../helpers/prometheus.js";
import { startS3rver } from "../helpers/s3rver.js";
import { poll } from "../helpers/poll.js";

const execFileP = promisify(execFile);
const DEPLOY = join(repoRoot, "deploy");
const PATH = process.env["PATH"] ?? "/usr/bin:/bin";
const LAUNCHER = join(repoRoot, "bin", "stagefarm");

/** Runs the launcher as an operator would, with only `env` (and PATH). */
async function sf(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(LAUNCHER, args, { env: { PATH, ...env }, timeout: 120_000, encoding: "utf8" });
  } catch (err: unknown) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`stagefarm ${args.join(" ")} failed:\n${e.stderr ?? ""}${e.stdout ?? ""}`, {
      cause: err,
    });
  }
}

async function shipped(rel: string): Promise<string> {
  return readFile(join(DEPLOY, rel), "utf8");
}

interface Host {
  name: string;
  /** Stands for the host's / (etc/stagefarm, var/lib/stagefarm, etc/nats, …). */
  root: string;
}

function hostPairs(h: Host): Array<[string, string]> {
  return [
    ["/opt/stagefarm", repoRoot],
    ["/etc/stagefarm", join(h.root, "etc/stagefarm")],
    ["/var/lib/stagefarm", join(h.root, "var/lib/stagefarm")],
  ];
}

function spawnRole(name: string, argv: string[], env: Record<string, string>): FarmProcess {
  const [cmd, ...args] = argv;
  assert.ok(cmd !== undefined);
  return new FarmProcess(name, spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] }));
}

/** Waits for `re` in `p`'s output; resolves with its first group as a number (a bound port), or 0. */
async function ready(p: FarmProcess, re: RegExp): Promise<number> {
  return poll(
    () => {
      if (!p.alive) throw new Error(`${p.name} ${p.status}:\n${p.output}`);
      const m = re.exec(p.output);
      return m === null ? undefined : Number(m[1] ?? 0);
    },
    { timeoutMs: 60_000, what: `${p.name} to start`, intervalMs: 100 },
  );
}

/** The TypeScript of the processes (cli, shared, coordinator, agent), concatenated. */
async function sourceText(): Promise<string> {
  const parts: string[] = [];
  for (const top of ["cli", "shared", "coordinator", "agent"])
    for (const entry of await readdir(join(repoRoot, top), { recursive: true }))
      if (entry.endsWith(".ts")) parts.push(await readFile(join(repoRoot, top, entry), "utf8"));
  return parts.join("\n");
}

const PIPELINE = (token: string): string => `pipeline: deploy-check
stages:
  on-b:
    runner: shell
    requires: [chroot]
    script: mkdir -p out && echo "b-${token}" > out/b
    outputs: { b: out/b }
  on-c:
    runner: shell
    requires: [catalyst]
    inputs: { b: { from: on-b.b, unpack: false } }
    script: mkdir -p out && cat inputs/b > out/c && echo c >> out/c
    outputs: { c: out/c }
`;

describe("deploy as shipped (3 hosts on loopback)", () => {
  test("units and init scripts are well-formed and agree on how to stop", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sf-deploy-verify-"));
    try {
      const roles = ["coordinator", "agent", "up"];
      for (const role of roles) {
        const unit = parseUnit(await shipped(`systemd/stagefarm-${role}.service`), role);
        const argv = execStartArgv(unit);
        assert.equal(argv[0], "/opt/stagefarm/bin/stagefarm", `${role}: the release's launcher`);
        assert.equal(argv[1], role);
        assert.deepEqual(environmentFiles(unit), [`/etc/stagefarm/${role}.env`]);
        // The env file exists in the form both init systems read.
        parseEnvFile(await shipped(`env/${role}.env`), `env/${role}.env`);
        // The OpenRC script starts the same command line.
        const host: Host = { name: role, root: join(dir, role) };
        const pairs: Array<[string, string]> = [
          ["@S3_COORDINATOR_SECRET@", "secret"],
          ["@S3_AGENT_SECRET@", "secret"],
          ["coordinator.example.org", "127.0.0.1"],
          ...hostPairs(host),
        ];
        const env = render(await shipped(`env/${role}.env`), pairs, `env/${role}.env`);
        await mkdir(join(host.root, "etc/stagefarm"), { recursive: true });
        await writeFile(join(host.root, `etc/stagefarm/${role}.env`), env, { mode: 0o600 });
        const initd = join(dir, `init.d-${role}`);
        const confd = join(dir, `conf.d-${role}`);
        await writeFile(initd, await shipped(`openrc/init.d/stagefarm-${role}`), { mode: 0o755 });
        await writeFile(
          confd,
          render(await shipped(`openrc/conf.d/stagefarm-${role}`), hostPairs(host), role),
        );
        await execFileP("/bin/sh", ["-n", initd]);
        const rc = await evalOpenrcService(initd, confd, `stagefarm-${role}`, PATH);
        assert.deepEqual(
          [rc.command, ...rc.args],
          render(argv.join("\0"), hostPairs(host), "ExecStart").split("\0"),
          `${role}: OpenRC and systemd start the same command`,
        );
        assert.equal(rc.vars["supervisor"], "supervise-daemon");
        assert.match(rc.vars["output_logger"] ?? "", /^logger -t stagefarm-/);
        assert.ok(Number(rc.vars["respawn_max"]) > 0, `${role}: respawn is bounded`);
        for (const [k, v] of Object.entries(parseEnvFile(env, role)))
          assert.equal(rc.env[k], v, `${role}: ${k}`);
        const stopSec = timeSpanSeconds(unitValue(unit, "Service", "TimeoutStopSec"));
        assert.equal(
          unitValue(unit, "Service", "KillMode"),
          "mixed",
          `${role}: SIGTERM to the main process only`,
        );
        assert.equal(
          unitValue(unit, "Service", "RestartPreventExitStatus"),
          "2",
          `${role}: no loop on bad config`,
        );
        if (role === "agent") {
          const drain = parseEnvFile(env, role)["STAGEFARM_DRAIN_TIMEOUT"] ?? "";
          const drainSec = timeSpanSeconds(drain);
          assert.ok(stopSec > drainSec, `TimeoutStopSec ${stopSec}s must outlast the drain (${drainSec}s)`);
          const graceSec = retryGraceSeconds(rc.vars["retry"] ?? "");
          assert.ok(graceSec > drainSec, `OpenRC retry ${graceSec}s must outlast the drain (${drainSec}s)`);
        }
      }

      // Every setting the env files carry is one the code reads (a misspelt key would be ignored).
      const sources = await sourceText();
      for (const file of ["coordinator", "agent", "up", "operator"]) {
        const keys = Object.keys(parseEnvFile(await shipped(`env/${file}.env`), file));
        for (const key of keys)
          if (key !== "NODE_EXTRA_CA_CERTS")
            assert.ok(sources.includes(`"${key}"`), `env/${file}.env sets ${key}, which no code reads`);
      }

      // systemd-analyze verify on the units with the prefix filled (it checks ExecStart exists).
      const units = join(dir, "units");
      await mkdir(units);
      for (const role of roles)
        await writeFile(
          join(units, `stagefarm-${role}.service`),
          (await shipped(`systemd/stagefarm-${role}.service`)).replaceAll("/opt/stagefarm", repoRoot),
        );
      const verify = await execFileP(
        "systemd-analyze",
        ["verify", "--man=no", ...roles.map((r) => join(units, `stagefarm-${r}.service`))],
        { encoding: "utf8" },
      ).catch((err: unknown) => err as { code?: unknown; stdout?: string; stderr?: string });
      if ("code" in verify && verify.code === "ENOENT")
        t.diagnostic("systemd-analyze not found: install the Debian package systemd to verify the units");
      else {
        assert.ok(
          !("code" in verify) || verify.code === undefined,
          `systemd-analyze: ${verify.stderr ?? ""}`,
        );
        assert.equal((verify.stderr ?? "").trim(), "", "systemd-analyze verify says nothing");
      }
      const openrc = await execFileP("openrc-run", ["--help"]).catch(
        (err: unknown) => err as { code?: unknown },
      );
      if ("code" in openrc && openrc.code === "ENOENT")
        t.diagnostic(
          "openrc-run not found: the init scripts were checked with sh -n and evaluated by /bin/sh; " +
            "install the Debian package openrc to check them with openrc-run (test-deps does not: it conflicts with sysv-rc)",
        );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a coordinator and two agents start from the shipped files, run a pipeline, and are scraped through auth", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-deploy-"));
    const a: Host = { name: "A", root: join(dir, "a") };
    const b: Host = { name: "B", root: join(dir, "b") };
    const c: Host = { name: "C", root: join(dir, "c") };
    const procs: FarmProcess[] = [];
    try {
      for (const h of [a, b, c])
        for (const d of ["etc/stagefarm/tls", "var/lib/stagefarm/work"])
          await mkdir(join(h.root, d), { recursive: true, mode: 0o700 });
      const etc = (h: Host, f: string): string => join(h.root, "etc/stagefarm", f);
      await using s3 = await startS3rver();

      // Step: certificates on host A, CA copied to B and C (README "Certificates").
      await sf(["certs", "init", etc(a, "tls"), "--hosts", "127.0.0.1"]);
      for (const h of [b, c]) await copyFile(etc(a, "tls/ca.crt"), etc(h, "tls/ca.crt"));
      assert.equal((await stat(etc(a, "tls/server.key"))).mode & 0o777, 0o600);
      const natsTls = join(a.root, "etc/nats/tls");
      await mkdir(natsTls, { recursive: true });
      for (const [from, to] of [
        ["server.crt", "server.crt"],
        ["server.key", "server.key"],
        ["ca.crt", "ca.crt"],
      ] as const)
        await copyFile(etc(a, `tls/${from}`), join(natsTls, to));

      // Step: NATS users, each made on its own host; the blocks gathered on host A.
      const [coordBlock, bBlock, cBlock] = await Promise.all([
        sf(["nats", "user", "coordinator", "--creds", etc(a, "nats.creds")]),
        sf([
          "nats",
          "user",
          "agent",
          "build-b",
          "--labels",
          "x86_64,chroot",
          "--creds",
          etc(b, "nats.creds"),
        ]),
        sf([
          "nats",
          "user",
          "agent",
          "build-c",
          "--labels",
          "x86_64,catalyst",
          "--creds",
          etc(c, "nats.creds"),
        ]),
      ]);
      const usersConf = `users = [\n${coordBlock.stdout}${bBlock.stdout}${cBlock.stdout}]\n`;
      await writeFile(join(a.root, "etc/nats/stagefarm-users.conf"), usersConf);

      // Step: tokens and the auth file, as deploy/README.md step 5 extracts them from the output:
      // the token is line 2, the auth file line starts with "  - {".
      const token = async (role: string, name: string): Promise<{ token: string; line: string }> => {
        const lines = (await sf(["certs", "token", "--role", role, "--name", name])).stdout.split("\n");
        const entry = lines.filter((l) => l.startsWith("  - {"));
        assert.equal(entry.length, 1, `one auth file line in ${lines.join("\n")}`);
        return { token: lines[1] ?? "", line: entry[0] ?? "" };
      };
      const [ops, promToken] = await Promise.all([token("admin", "ops"), token("viewer", "prometheus")]);
      await writeFile(etc(a, "auth.yaml"), `tokens:\n${ops.line}\n${promToken.line}\n`, { mode: 0o600 });

      // NATS from the shipped config (the harness's listen flags stand for `port: 4222`).
      const natsConf = render(
        await shipped("nats/nats-server.conf"),
        [
          ["/etc/nats", join(a.root, "etc/nats")],
          ["store_dir: /var/lib/nats", `store_dir: ${JSON.stringify(join(a.root, "var/lib/nats"))}`],
        ],
        "nats-server.conf",
      );
      await writeFile(join(a.root, "etc/nats/nats-server.conf"), natsConf);
      await using nats = await startNatsServer({
        config: { file: join(a.root, "etc/nats/nats-server.conf"), storeDir: join(a.root, "var/lib/nats") },
      });

      // The coordinator and the agents bind port 0 and print the ports they got; what is
      // rendered after they started (the agents' and the operator's files) names those.
      let grpcPort = 0;
      let httpPort = 0;
      const farmPairs = (): Array<[string, string]> => [
        [":4222", `:${nats.port}`],
        [":7420", `:${grpcPort}`],
        [":9464", `:${httpPort}`],
        ["coordinator.example.org", "127.0.0.1"],
      ];

      // Host A: the coordinator from its unit and env file.
      const envFile = async (h: Host, role: string, pairs: Array<[string, string]>): Promise<string> => {
        const text = render(
          await shipped(`env/${role}.env`),
          [...pairs, ...farmPairs(), ...hostPairs(h)],
          `${h.name} ${role}.env`,
        );
        await writeFile(etc(h, `${role}.env`), text, { mode: 0o600 });
        return text;
      };
      await envFile(a, "coordinator", [
        [
          "STAGEFARM_S3_URL=https://sf-coordinator:@S3_COORDINATOR_SECRET@@coordinator.example.org:9000/stagefarm",
          `STAGEFARM_S3_URL=${s3.url}`,
        ],
      ]);
      const unitEnv = async (
        h: Host,
        unit: ReturnType<typeof parseUnit>,
      ): Promise<Record<string, string>> => {
        const env: Record<string, string> = { PATH };
        for (const f of environmentFiles(unit)) {
          const file = render(f, hostPairs(h), "EnvironmentFile");
          Object.assign(env, parseEnvFile(await readFile(file, "utf8"), file));
        }
        return env;
      };
      const coordUnit = parseUnit(await shipped("systemd/stagefarm-coordinator.service"), "coordinator");
      const coordinator = spawnRole(
        "coordinator",
        render(execStartArgv(coordUnit).join("\0"), hostPairs(a), "ExecStart").split("\0"),
        await unitEnv(a, coordUnit),
      );
      procs.push(coordinator);
      ({ grpcPort, httpPort } = await coordinatorPorts(coordinator, 60_000));
      assert.match(coordinator.output, /gRPC on .*HTTP on https:\/\//);

      // Host B: the agent from its systemd unit.
      const agentS3: [string, string] = [
        "STAGEFARM_S3_URL=https://sf-agent-build-b:@S3_AGENT_SECRET@@coordinator.example.org:9000/stagefarm",
        `STAGEFARM_S3_URL=${s3.url}`,
      ];
      await envFile(b, "agent", [agentS3, [":9465", ":0"]]);
      const agentUnit = parseUnit(await shipped("systemd/stagefarm-agent.service"), "agent");
      const agentB = spawnRole(
        "agent build-b (systemd)",
        render(execStartArgv(agentUnit).join("\0"), hostPairs(b), "ExecStart").split("\0"),
        await unitEnv(b, agentUnit),
      );
      procs.push(agentB);

      // Host C: the agent from the OpenRC script and conf.d, with host C's id and labels.
      await envFile(c, "agent", [
        agentS3,
        [":9465", ":0"],
        // As deploy/README.md step 7 tells host C: every build-b becomes build-c, and the labels.
        ["build-b", "build-c"],
        ["STAGEFARM_LABELS=x86_64,chroot", "STAGEFARM_LABELS=x86_64,catalyst"],
      ]);
      const initd = join(c.root, "stagefarm-agent.init");
      const confd = join(c.root, "stagefarm-agent.conf");
      await writeFile(initd, await shipped("openrc/init.d/stagefarm-agent"), { mode: 0o755 });
      await writeFile(confd, render(await shipped("openrc/conf.d/stagefarm-agent"), hostPairs(c), "conf.d"));
      const rc = await evalOpenrcService(initd, confd, "stagefarm-agent", PATH);
      // The one setting beyond the shipped files: this CI host has no Catalyst, and the agent
      // drops a label whose tools are missing (agent/prerequisites.ts). `warn` keeps the label
      // for the test's pipeline; the check itself still runs and must name what is missing.
      const agentC = spawnRole("agent build-c (OpenRC)", [rc.command, ...rc.args], {
        ...rc.env,
        STAGEFARM_MISSING_TOOLS: "warn",
      });
      procs.push(agentC);
      const [bHttp, cHttp] = await Promise.all([
        ready(agentB, /stagefarm agent build-b: labels x86_64,chroot.*, HTTP on http:\/\/\S+:(\d+)/),
        ready(agentC, /stagefarm agent build-c: labels x86_64,catalyst.*, HTTP on http:\/\/\S+:(\d+)/),
      ]);
      assert.match(
        agentC.output,
        /missing: catalyst \(label catalyst/,
        "the prerequisite check ran on host C",
      );

      // The operator's CLI from operator.env, with the admin token.
      const operator = parseEnvFile(
        render(
          await shipped("env/operator.env"),
          [["@OPERATOR_TOKEN@", ops.token], ...farmPairs(), ...hostPairs(a)],
          "operator.env",
        ),
        "operator.env",
      );
      const runToken = randomBytes(4).toString("hex");
      const pipeline = join(dir, "p.yaml");
      await writeFile(pipeline, PIPELINE(runToken));
      const submitted = await sf(["submit", pipeline, "--watch", "--json"], operator);
      const summary = JSON.parse(submitted.stdout.trim().split("\n").pop() ?? "") as RunSummary;
      assert.equal(summary.status, "succeeded", submitted.stderr);
      assert.equal(summary.results["on-b"]?.agent, "build-b");
      assert.equal(summary.results["on-c"]?.agent, "build-c");
      const agents = JSON.parse((await sf(["agents", "--json"], operator)).stdout) as Array<{ id: string }>;
      assert.deepEqual(agents.map((x) => x.id).sort(), ["build-b", "build-c"]);

      // Prometheus from the shipped config: HTTPS with the farm CA and the viewer token.
      const promDir = join(dir, "prometheus");
      await mkdir(promDir);
      await copyFile(etc(a, "tls/ca.crt"), join(promDir, "stagefarm-ca.crt"));
      await writeFile(join(promDir, "stagefarm.token"), `${promToken.token}\n`, { mode: 0o600 });
      // Nothing listens there (no Alertmanager in this test): any port nobody else binds will do.
      const amPort = await freePort();
      const promPairs: Array<[string, string]> = [
        ["/etc/prometheus", promDir],
        ["coordinator.example.org:9093", `127.0.0.1:${amPort}`],
        ["coordinator.example.org:9464", `127.0.0.1:${httpPort}`],
        ["build-b.example.org:9465", `127.0.0.1:${bHttp}`],
        ["build-c.example.org:9465", `127.0.0.1:${cHttp}`],
      ];
      // Only the timing differs from the shipped file: a scrape a second instead of 15 s.
      const promConfig = render(
        await shipped("prometheus/prometheus.yml"),
        promPairs,
        "prometheus.yml",
      ).replace(/scrape_interval: 15s/, "scrape_interval: 1s");
      await using prom = await startPrometheus({
        config: promConfig,
        files: {
          "rules.yml": await shipped("prometheus/rules.yml"),
          "targets/agents.yml": render(
            await shipped("prometheus/targets/agents.yml.example"),
            promPairs,
            "agents.yml.example",
          ),
        },
      });
      const check = await promtool(["check", "config", join(prom.dir, "prometheus.yml")]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const up = await prom
        .waitFor("up", (s) => (s.length === 3 && s.every((x) => x.value === 1) ? s : undefined), 60_000)
        .catch(async (err: unknown) => {
          const targets = await (await fetch(`${prom.url}/api/v1/targets`)).text();
          throw new Error(`targets: ${targets}`, { cause: err });
        });
      assert.deepEqual(up.map((s) => s.metric["job"]).sort(), [
        "stagefarm-agents",
        "stagefarm-agents",
        "stagefarm-coordinator",
      ]);
      await prom.waitFor(
        'sum(stagefarm_runs_total{outcome="succeeded"})',
        (s) => (s.length === 1 && (s[0]?.value ?? 0) >= 1 ? true : undefined),
        30_000,
      );

      // One machine: `stagefarm up` from its unit and up.env (its own host, its own port).
      const u: Host = { name: "U", root: join(dir, "u") };
      await mkdir(join(u.root, "etc/stagefarm"), { recursive: true });
      await writeFile(etc(u, "up.env"), render(await shipped("env/up.env"), hostPairs(u), "up.env"), {
        mode: 0o600,
      });
      const upUnit = parseUnit(await shipped("systemd/stagefarm-up.service"), "up");
      const upProc = spawnRole(
        "up (systemd)",
        render(execStartArgv(upUnit).join("\0"), [[":9464", ":0"], ...hostPairs(u)], "ExecStart").split("\0"),
        await unitEnv(u, upUnit),
      );
      procs.push(upProc);
      const upPort = await ready(upProc, /stagefarm up: listening on http:\/\/127\.0\.0\.1:(\d+) \(store /);
      assert.notEqual(upPort, 0, "up prints the port it bound, not the 0 it was given");
      assert.ok(upProc.output.includes(join(u.root, "var/lib/stagefarm/store")), "up.env's store is used");
      const health = await fetch(`http://127.0.0.1:${upPort}/healthz`);
      assert.equal(health.status, 200);
      await upProc.stop("SIGTERM", 30_000);
      assert.equal(upProc.status, "exit 143", upProc.output);

      // Agents drain and exit on the init system's SIGTERM; so does the coordinator.
      await Promise.all([agentB, agentC].map((p) => p.stop("SIGTERM", 30_000)));
      await coordinator.stop("SIGTERM", 30_000);
      for (const p of [agentB, agentC, coordinator])
        assert.equal(p.status, "exit 143", `${p.name}: ${p.output}`);
    } finally {
      await Promise.all(procs.map((p) => p.stop("SIGKILL", 5000)));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
