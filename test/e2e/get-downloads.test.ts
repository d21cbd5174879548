/**
 * Downloads (`stagefarm get` and the HTTP routes of coordinator/downloads/): the demo built on
 * `stagefarm up` and on a loopback farm (nats-server, S3 server, coordinator, agent as
 * processes); every output taken home with `get` matches its recorded sha256 (trees unpacked,
 * or kept as their tar.zst); a download resumes with Range; 416, 304 and 404 are answered;
 * hostile names are refused; with tokens, a viewer downloads and an anonymous caller cannot;
 * a download whose bytes do not match their record is refused and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { authFileText, makeTokens, writeAuthFile } from "../helpers/auth-fixtures.js";
import { CliSandbox, repoRoot, type CliResult } from "../helpers/cli.js";
import { withFarm, type RunSummary } from "../helpers/farm-processes.js";
import { poll } from "../helpers/poll.js";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

type Outputs = Record<string, Record<string, { digest: string; size: number; kind: string }>>;

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** `get`s every output of `run` into `dir` (trees as their archive, and with `unpack` unpacked too). */
async function getEvery(
  cli: (args: string[]) => Promise<CliResult>,
  run: string,
  outputs: Outputs,
  dir: string,
  extra: string[],
  unpack: boolean,
): Promise<number> {
  let n = 0;
  for (const [stage, outs] of Object.entries(outputs))
    for (const [name, o] of Object.entries(outs)) {
      const dest = join(dir, `${stage}-${name}`);
      const r = await cli(["get", run, stage, name, "-o", dest, "--tar", "--json", ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha256(await readFile(dest)), o.digest, `${stage}.${name}`);
      if (o.kind === "tree" && unpack) {
        const tree = join(dir, `${stage}-${name}.d`);
        const u = await cli(["get", run, stage, name, "-o", tree, ...extra]);
        assert.equal(u.code, 0, u.stderr);
        assert.ok((await stat(tree)).isDirectory());
        assert.ok((await readdir(tree)).length > 0, `${stage}.${name} unpacked`);
      }
      n++;
    }
  return n;
}

/** Range, 304, 416, 404 and hostile names against one output. */
async function checkHttp(base: string, run: string, outputs: Outputs, headers: Record<string, string>) {
  const [stage, outs] = Object.entries(outputs).find(([, o]) => Object.keys(o).length > 0) ?? [];
  const [name, o] = Object.entries(outs ?? {})[0] ?? [];
  assert.ok(stage !== undefined && name !== undefined && o !== undefined);
  const url = `${base}/api/v1/runs/${run}/stages/${stage}/outputs/${name}`;
  const whole = await fetch(url, { headers });
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("etag"), `"${o.digest}"`);
  assert.equal(whole.headers.get("content-length"), String(o.size));
  assert.match(whole.headers.get("content-disposition") ?? "", /^attachment; filename="[a-z0-9._-]+"$/);
  const half = Math.floor(o.size / 2);
  const first = Buffer.from(
    await (await fetch(url, { headers: { ...headers, range: `bytes=0-${half - 1}` } })).arrayBuffer(),
  );
  const rest = await fetch(url, { headers: { ...headers, range: `bytes=${half}-` } });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers.get("content-range"), `bytes ${half}-${o.size - 1}/${o.size}`);
  const joined = Buffer.concat([first, Buffer.from(await rest.arrayBuffer())]);
  assert.equal(joined.length, o.size);
  assert.equal(sha256(joined), o.digest, "the resumed download is the whole blob");
  const bad = await fetch(url, { headers: { ...headers, range: `bytes=${o.size}-` } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get("content-range"), `bytes */${o.size}`);
  const same = await fetch(url, { headers: { ...headers, "if-none-match": `"${o.digest}"` } });
  assert.equal(same.status, 304);
  const byDigest = await fetch(`${base}/api/v1/artifacts/${o.digest}`, { headers });
  assert.equal(sha256(Buffer.from(await byDigest.arrayBuffer())), o.digest);
  for (const p of [
    `runs/nope/stages/${stage}/outputs/${name}`,
    `runs/${run}/stages/nope/outputs/${name}`,
    `runs/${run}/stages/${stage}/outputs/nope`,
    `artifacts/${"0".repeat(64)}`,
  ])
    assert.equal((await fetch(`${base}/api/v1/${p}`, { headers })).status, 404, p);
  for (const p of [
    `runs/${run}/stages/..%2f..%2fetc/outputs/${name}`,
    `runs/${run}/stages/${stage}/outputs/a%2fb`,
    `runs/${run}/stages/${stage}/outputs/%00`,
    `runs/${run}/stages/${stage}/outputs/${"a".repeat(600)}`,
    `artifacts/${o.digest.toUpperCase()}`,
    `artifacts/..%2f..%2fac`,
  ])
    assert.equal((await fetch(`${base}/api/v1/${p}`, { headers })).status, 400, p);
}

test("get and the download routes on stagefarm up", { timeout: 180_000 }, async () => {
  await using sb = await CliSandbox.create();
  const child = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const yaml = await readFile(join(repoRoot, "pipelines/demo/pipeline.yaml"), "utf8");
    const res = await fetch(`${base}/api/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pipelineYaml: yaml, pipelinePath: "demo/pipeline.yaml", params: {} }),
    });
    const { id } = (await res.json()) as { id: string };
    const run = await poll(
      async () => {
        const r = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as {
          status: string;
          stages: Record<string, { outputs?: Outputs[string] }>;
        };
        return r.status === "running" ? undefined : r;
      },
      { timeoutMs: 120_000, what: "the demo run to finish", intervalMs: 100 },
    );
    assert.equal(run.status, "succeeded");
    const outputs: Outputs = Object.fromEntries(
      Object.entries(run.stages).map(([s, d]) => [s, d.outputs ?? {}]),
    );
    const dir = join(sb.dir, "got");
    const n = await getEvery((a) => sb.run(a), id, outputs, dir, ["--url", base], true);
    assert.ok(n >= 6, `${n} outputs`);
    await checkHttp(base, id, outputs, {});

    // An existing path is kept unless --force; a blob by digest from the local store.
    const [stage, outs] = Object.entries(outputs)[0] ?? [];
    const [name, o] = Object.entries(outs ?? {})[0] ?? [];
    assert.ok(stage !== undefined && name !== undefined && o !== undefined);
    const taken = join(dir, `${stage}-${name}`);
    await writeFile(taken, "mine");
    const kept = await sb.run(["get", id, stage, name, "-o", taken, "--tar", "--url", base]);
    assert.equal(kept.code, 2, kept.stderr);
    assert.match(kept.stderr, /exists \(--force replaces it\)/);
    assert.equal(await readFile(taken, "utf8"), "mine");
    const forced = await sb.run(["get", id, stage, name, "-o", taken, "--tar", "--force", "--url", base]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(sha256(await readFile(taken)), o.digest);
    const local = await sb.run(["get", o.digest, "-o", join(dir, "local")]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(sha256(await readFile(join(dir, "local"))), o.digest);
    const toStdout = await sb.run(["get", o.digest, "-o", "-"]);
    assert.equal(toStdout.code, 0);
    assert.equal(await child.stop("SIGTERM"), 143, child.describe());
  } finally {
    child.kill();
  }
});

test("get refuses bytes that do not match their record and leaves nothing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-get-bad-"));
  const body = Buffer.from("not what the record says\n");
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      "content-length": String(body.length),
      "x-stagefarm-kind": "file",
      "x-stagefarm-sha256": "a".repeat(64),
    });
    res.end(body);
  });
  const { hostPort } = await listenHttp(server, "127.0.0.1", 0, "the download server");
  try {
    await using sb = await CliSandbox.create();
    const url = `http://${hostPort}`;
    const r = await sb.run(["get", "r1", "s", "o", "-o", join(dir, "out"), "--url", url]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not match its record/);
    assert.deepEqual(await readdir(dir), [], "no file and no partial file");
  } finally {
    await closeHttp(server);
    await rm(dir, { recursive: true, force: true });
  }
});

test("get on a loopback farm, by role", { timeout: 240_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-get-farm-"));
  try {
    const tokens = makeTokens();
    const auth = await writeAuthFile(join(dir, "auth"), authFileText(tokens));
    await withFarm({ agents: [{ id: "a1" }], coordinatorEnv: { STAGEFARM_AUTH: auth } }, async (farm) => {
      const r = await farm.cliJson<RunSummary>(
        [
          "submit",
          join(repoRoot, "pipelines/demo/pipeline.yaml"),
          "--watch",
          "--json",
          "--token",
          tokens.submitter,
        ],
        { timeoutMs: 180_000 },
      );
      assert.equal(r.status, "succeeded");
      const outputs: Outputs = Object.fromEntries(Object.entries(r.results).map(([s, d]) => [s, d.outputs]));
      // Through the coordinator's gRPC API (STAGEFARM_COORDINATOR), then its HTTP server.
      const viewer = ["--token", tokens.viewer];
      const n = await getEvery((a) => farm.cli(a), r.run, outputs, join(dir, "got"), viewer, false);
      assert.ok(n >= 6, `${n} outputs`);
      await checkHttp(farm.httpUrl, r.run, outputs, { authorization: `Bearer ${tokens.viewer}` });
      const [stage, outs] =
        Object.entries(outputs).find(([, o]) => Object.values(o)[0]?.kind === "tree") ?? [];
      const [name, o] = Object.entries(outs ?? {})[0] ?? [];
      assert.ok(stage !== undefined && name !== undefined && o !== undefined);
      const tree = join(dir, "tree");
      const viaGrpc = await farm.cli(["get", r.run, stage, name, "-o", tree, ...viewer]);
      assert.equal(viaGrpc.code, 0, viaGrpc.stderr);
      assert.ok((await readdir(tree)).length > 0);
      const viaHttp = await farm.cli([
        "get",
        o.digest,
        "-o",
        join(dir, "blob"),
        "--url",
        farm.httpUrl,
        ...viewer,
      ]);
      assert.equal(viaHttp.code, 0, viaHttp.stderr);
      assert.equal(sha256(await readFile(join(dir, "blob"))), o.digest);
      const anonymous = await fetch(`${farm.httpUrl}/api/v1/runs/${r.run}/stages/${stage}/outputs/${name}`);
      assert.equal(anonymous.status, 401);
      for (const via of [[], ["--url", farm.httpUrl]]) {
        const cli = await farm.cli(["get", r.run, stage, name, "-o", join(dir, "anon"), ...via]);
        assert.notEqual(cli.code, 0, cli.stdout);
      }
      const hostile = await farm.cli(["get", r.run, "..", name, ...viewer]);
      assert.equal(hostile.code, 2, hostile.stderr);
      await assert.rejects(stat(join(dir, "anon")));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
