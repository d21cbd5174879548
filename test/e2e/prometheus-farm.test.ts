/**
 * A real Prometheus (Debian's 2.42) scraping a farm of real processes: `stagefarm coordinator`
 * and two `stagefarm agent --http` (discovered from a file, as deploy/prometheus/prometheus.yml
 * ships it), with the shipped rules loaded. PromQL through the HTTP API sees the run while it
 * runs and counts it afterwards; the recording rules evaluate; every expression of rules.yml
 * and grafana-dashboard.json is accepted; `promtool check metrics` passes on the live
 * expositions; an agent leaving and another joining show up as they should. The shipped config
 * and rules pass `promtool check config` / `check rules`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { stringify as stringifyYaml } from "yaml";
import { parseYamlData } from "../../shared/yaml/index.js";
import { cliPath, repoRoot } from "../helpers/cli.js";
import { FarmProcess } from "../helpers/farm-process.js";
import { fanoutPipeline, withFarm, type FarmProcesses, type RunSummary } from "../helpers/farm-processes.js";
import { parseExposition, promtool, startPrometheus, type PromSample } from "../helpers/prometheus.js";

/** Every YAML document is read with bounds (shared/yaml), the deploy files too. */
const parseYaml = (text: string): unknown => parseYamlData(text, "deploy YAML file");

const DEPLOY = join(repoRoot, "deploy", "prometheus");

interface PromConfig {
  global: Record<string, string>;
  rule_files: string[];
  alerting?: unknown;
  scrape_configs: Array<{
    job_name: string;
    scheme?: string;
    tls_config?: unknown;
    bearer_token_file?: string;
    static_configs?: Array<{ targets: string[] }>;
    file_sd_configs?: Array<{ files: string[]; refresh_interval?: string }>;
  }>;
}

/** The shipped prometheus.yml, pointed at this farm, scraping every second. */
async function farmConfig(coordinator: string): Promise<string> {
  const cfg = parseYaml(await readFile(join(DEPLOY, "prometheus.yml"), "utf8")) as PromConfig;
  cfg.global = { ...cfg.global, scrape_interval: "1s", evaluation_interval: "1s" };
  cfg.rule_files = cfg.rule_files.map((f) => join(DEPLOY, f));
  const coord = cfg.scrape_configs.find((j) => j.job_name === "stagefarm-coordinator");
  const agents = cfg.scrape_configs.find((j) => j.job_name === "stagefarm-agents");
  assert.ok(coord?.static_configs !== undefined && agents?.file_sd_configs !== undefined, "shipped jobs");
  coord.static_configs = [{ targets: [coordinator] }];
  // This farm's coordinator serves plain HTTP without tokens on loopback; the shipped HTTPS,
  // token and Alertmanager settings are exercised by deploy-shipped.test.ts.
  delete coord.scheme;
  delete coord.tls_config;
  delete coord.bearer_token_file;
  delete cfg.alerting;
  return stringifyYaml(cfg);
}

/** Every PromQL expression shipped: the rules' and the dashboard panels' (Grafana variables filled in). */
async function shippedExpressions(): Promise<Array<{ where: string; expr: string }>> {
  const rules = parseYaml(await readFile(join(DEPLOY, "rules.yml"), "utf8")) as {
    groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  const out = rules.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rules.yml ${r.alert ?? r.record ?? "?"}`, expr: r.expr })),
  );
  const dash = JSON.parse(await readFile(join(DEPLOY, "grafana-dashboard.json"), "utf8")) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  };
  for (const p of dash.panels)
    for (const t of p.targets ?? [])
      out.push({
        where: `dashboard "${p.title}"`,
        expr: t.expr
          .replaceAll("$__rate_interval", "1m")
          .replaceAll("$__interval", "1m")
          .replaceAll("$pipeline", ".*"),
      });
  return out;
}

/** An agent process with `--http`, in the farm's environment (marked for its leak check). */
/** Starts an agent with its HTTP server on port 0; resolves with it and the port it bound. */
async function startAgent(farm: FarmProcesses, id: string): Promise<{ proc: FarmProcess; port: number }> {
  const workDir = farm.agentWorkDir(id);
  await mkdir(workDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STAGEFARM_")) env[k] = v;
  const child = spawn(
    process.execPath,
    [cliPath, "agent", "--id", id, "--labels", "x86_64", "--slots", "2", "--work-dir", workDir],
    {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...env,
        NO_COLOR: "1",
        SF_E2E_FARM: farm.prefix,
        STAGEFARM_NATS_URL: farm.nats.url,
        STAGEFARM_S3_URL: farm.s3.url,
        STAGEFARM_PREFIX: farm.prefix,
        STAGEFARM_JOB_ACK_WAIT: "3s",
        STAGEFARM_HEARTBEAT: "500ms",
        STAGEFARM_DRAIN_TIMEOUT: "1s",
        STAGEFARM_AGENT_HTTP: "127.0.0.1:0",
      },
    },
  );
  const p = new FarmProcess(`agent ${id}`, child);
  const ready = await farm.waitForLog(p, /stagefarm agent .*HTTP on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
  const port = Number(ready[1]);
  farm.step(`agent ${id} ready with HTTP on ${port}`);
  return { proc: p, port };
}

const one = (s: PromSample[]): number | undefined => (s.length === 1 ? s[0]?.value : undefined);
const equals =
  (n: number) =>
  (s: PromSample[]): true | undefined =>
    one(s) === n ? true : undefined;

async function checkLiveMetrics(url: string, what: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const r = await promtool(["check", "metrics"], text);
  assert.equal(r.code, 0, `promtool check metrics on ${what}:\n${r.stdout}${r.stderr}`);
  parseExposition(text);
  return text;
}

describe("Prometheus monitoring (real Prometheus, farm processes)", () => {
  test("the shipped config and rules pass promtool; the dashboard is well-formed", async () => {
    // The files it names (CA, token) exist only on a Prometheus host: deploy-shipped.test.ts checks
    // the whole config with them in place.
    const config = await promtool(["check", "config", "--syntax-only", join(DEPLOY, "prometheus.yml")]);
    assert.equal(config.code, 0, config.stdout + config.stderr);
    const rules = await promtool(["check", "rules", join(DEPLOY, "rules.yml")]);
    assert.equal(rules.code, 0, rules.stdout + rules.stderr);
    const example = parseYaml(
      await readFile(join(DEPLOY, "targets", "agents.yml.example"), "utf8"),
    ) as Array<{
      targets: string[];
    }>;
    assert.ok(
      example.every((g) => g.targets.every((t) => /^[a-z0-9.-]+:\d+$/.test(t))),
      "target list format",
    );
    const dash = JSON.parse(await readFile(join(DEPLOY, "grafana-dashboard.json"), "utf8")) as {
      uid: string;
      panels: Array<{ id: number; type: string; targets?: Array<{ refId: string; expr: string }> }>;
    };
    assert.equal(dash.uid, "stagefarm");
    assert.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length, "unique panel ids");
    for (const p of dash.panels.filter((x) => x.type !== "row")) {
      const refs = (p.targets ?? []).map((t) => t.refId);
      assert.ok(
        refs.length > 0 && new Set(refs).size === refs.length,
        `panel ${p.id} has targets with unique refIds`,
      );
    }
    const exprs = (await shippedExpressions()).map((e) => e.expr).join("\n");
    for (const metric of [
      "stagefarm_stage_duration_seconds",
      "stagefarm_stage_queue_wait_seconds",
      "stagefarm_agents",
      "stagefarm_agent_busy_slots",
      "stagefarm_cache_lookups_total",
      "stagefarm_artifact_bytes_total",
      "stagefarm_agent_disk_free_bytes",
      "stagefarm_agent_last_heartbeat_timestamp_seconds",
      "stagefarm_stages_waiting",
      "stagefarm_stage_running_seconds",
    ])
      assert.ok(exprs.includes(metric), `the rules or the dashboard use ${metric}`);
  });

  test("scrapes a coordinator and two agents through a run; PromQL sees it; agents leave and join", async () => {
    await withFarm({}, async (farm) => {
      const agents: FarmProcess[] = [];
      try {
        const started = await Promise.all(["a1", "a2"].map((id) => startAgent(farm, id)));
        agents.push(...started.map((a) => a.proc));
        const ports = started.map((a) => a.port);
        const target = (port: number): string => `127.0.0.1:${port}`;
        const targets = (ps: number[]): string => stringifyYaml([{ targets: ps.map(target) }]);
        await using prom = await startPrometheus({
          config: await farmConfig(`127.0.0.1:${farm.httpPort}`),
          files: { "targets/agents.yml": targets(ports) },
        });
        farm.step(`prometheus on ${prom.url}`);
        await prom.waitFor('count(up{job=~"stagefarm-.*"} == 1)', equals(3), 20_000);
        await prom.waitFor("count(stagefarm_agent_last_heartbeat_timestamp_seconds)", equals(2), 10_000);

        const token = randomBytes(4).toString("hex");
        // Leaves sleep 3 s: busy slots reach the coordinator by 500 ms heartbeats and Prometheus by 1 s
        // scrapes, so a 1 s overlap could fall between them on a loaded machine.
        const file = await farm.writePipeline("fan.yaml", fanoutPipeline(token, 4, 3));
        const first = await farm.cliJson<RunSummary>(["submit", file, "--watch", "--json"]);
        assert.equal(first.status, "succeeded");
        // Scraped while it ran: the coordinator had an active run, agents ran stages, slots were busy.
        await prom.waitFor("max_over_time(stagefarm_runs_active[2m])", equals(1), 10_000);
        await prom.waitFor(
          "max_over_time(sum(stagefarm_agent_running_stages)[2m:1s]) >= 2",
          (s) => one(s),
          10_000,
        );
        await prom.waitFor(
          "max_over_time(sum(stagefarm_agent_busy_slots)[2m:1s]) >= 2",
          (s) => one(s),
          10_000,
        );
        // Counted afterwards, from the coordinator and from the agents' own endpoints.
        await prom.waitFor('sum(stagefarm_stages_total{pipeline="fan",result="done"})', equals(6), 10_000);
        await prom.waitFor('sum(stagefarm_agent_stages_total{result="succeeded"})', equals(6), 10_000);
        await prom.waitFor(
          'count(stagefarm_stage_duration_seconds_count{pipeline="fan",result="done"})',
          equals(6),
          10_000,
        );
        await prom.waitFor('sum(stagefarm_stage_queue_wait_seconds_count{pool="any"})', equals(6), 10_000);
        await prom.waitFor(
          'sum(stagefarm_artifact_bytes_total{direction="download"}) > 0',
          (s) => one(s),
          10_000,
        );
        await prom.waitFor(
          'sum(stagefarm_artifact_bytes_total{direction="upload"}) > 0',
          (s) => one(s),
          10_000,
        );
        await prom.waitFor('stagefarm_agents{state="idle"}', equals(2), 10_000);
        await prom.waitFor("sum(stagefarm_agent_slots)", equals(4), 10_000);
        await prom.waitFor('stagefarm:cache_hit_ratio:6h{kind="stage"}', equals(0), 10_000);

        // A cached rerun moves the hit ratio the recording rule computes.
        const again = await farm.cliJson<RunSummary>(["submit", file, "--watch", "--json"]);
        assert.equal(again.stages.cached, 6);
        await prom.waitFor('stagefarm:cache_hit_ratio:6h{kind="stage"}', equals(0.5), 15_000);

        for (const { where, expr } of await shippedExpressions()) {
          const r = await prom.query(expr);
          assert.equal(r.status, "success", `${where}: ${expr}\n${r.errorType ?? ""}: ${r.error ?? ""}`);
        }
        await Promise.all([
          checkLiveMetrics(farm.httpUrl, "the coordinator"),
          ...ports.map((port) => checkLiveMetrics(`http://${target(port)}`, `the agent on ${port}`)),
        ]);

        // a2 drains and leaves while a3 starts: a2's coordinator-side series go, its target goes down.
        const [, { proc: a3, port: port3 }] = await Promise.all([
          agents[1]?.stop("SIGTERM", 10_000),
          startAgent(farm, "a3"),
        ]);
        agents.push(a3);
        farm.step("a2 stopped");
        await prom.waitFor(`up{instance="${target(ports[1] ?? 0)}"}`, equals(0), 10_000);
        // a3 is discovered from the file.
        await prom.writeFile("targets/agents.yml", targets([ports[0] ?? 0, port3]));
        await prom.waitFor('count(up{job="stagefarm-agents"} == 1)', equals(2), 20_000);
        const hb = await prom.waitFor(
          "stagefarm_agent_last_heartbeat_timestamp_seconds",
          (s) => (s.length === 2 ? s.map((x) => x.metric["agent"]).sort() : undefined),
          15_000,
        );
        assert.deepEqual(hb, ["a1", "a3"]);
        await prom.waitFor('sum(stagefarm_agent_info{agent="a3"})', equals(1), 10_000);
      } finally {
        await Promise.allSettled(agents.map((a) => a.stop("SIGTERM", 5000)));
      }
    });
  });
});
