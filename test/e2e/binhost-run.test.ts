/**
 * The farm binhost through the CLI's embedded farm, with the emerge double as the stages'
 * emerge: `stagefarm run` publishes what the first stage built and gives the next stage a
 * binrepos.conf pointing at a loopback server it started for the binhost; `stagefarm up`
 * serves the binhost on its own HTTP server and gives that address to the stages it runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePackages } from "../../shared/binhost/index.js";
import { CliSandbox, lastJsonLine, repoRoot } from "../helpers/cli.js";
import { poll } from "../helpers/poll.js";

const DOUBLE = join(repoRoot, "test/doubles/emerge-double.sh");

function pipeline(name: string, atom: string): string {
  const stage = (extra: string) => `
    runner: emerge
    env: { ROOT: gentoo, PORTAGE_CONFIGROOT: cfg }${extra}
    with:
      configs: [{ config_root: cfg, make_conf: "" }]
      emerge: [{ command: ${DOUBLE}, args: ["-1", "${atom}"] }]
      binhost: { name: farm }
    outputs:
      record: gentoo/usr/share/${atom.split("/")[1] ?? ""}`;
  return `pipeline: ${name}
stages:
  first:${stage("")}
  second:${stage(`
    inputs:
      prev: first.record`)}
`;
}

/** The text of the newest log of `stage` in the sandbox's store. */
async function stageLog(sb: CliSandbox, stage: string): Promise<string> {
  const root = join(sb.dir, "store/logs");
  const found: string[] = [];
  for (const run of await readdir(root))
    for (const s of await readdir(join(root, run)).catch(() => []))
      if (s === stage) for (const f of await readdir(join(root, run, s))) found.push(join(root, run, s, f));
  const texts = await Promise.all(found.map((f) => readFile(f, "utf8")));
  return texts.join("\n");
}

void test("stagefarm run: the first stage publishes, the second gets a binrepos.conf for the binhost; up serves it", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "pipeline.yaml");
  await writeFile(file, pipeline("binhost-e2e", "dev-libs/libsigc++"));
  const r = await sb.run(["run", file]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

  const first = await stageLog(sb, "first");
  assert.match(
    first,
    /binhost "farm": published dev-libs\/libsigc\+\+\/libsigc\+\+-1\.0-1\.gpkg\.tar as dev-libs\/libsigc\+\+\/libsigc\+\+-1\.0-1\.gpkg\.tar/,
  );
  const second = await stageLog(sb, "second");
  const uri =
    /emerge-double: binrepos\.conf: binrepos\.conf\/stagefarm-farm\.conf sync-uri=(http:\/\/127\.0\.0\.1:\d+\/binhost\/farm)/.exec(
      second,
    )?.[1];
  assert.ok(uri !== undefined, second);
  assert.match(
    second,
    /emerge-double: would fetch dev-libs\/libsigc\+\+-1\.0 from http:\/\/127\.0\.0\.1:\d+\/binhost\/farm/,
  );
  assert.match(second, /\(BUILD_ID 2; its own 1 was taken\)/);

  const shown = lastJsonLine((await sb.run(["binhost", "show", "farm", "--json"])).stdout) as {
    entries: Array<{ path: string; record?: { stage?: string; agent?: string } }>;
  };
  assert.deepEqual(
    shown.entries.map((e) => [e.path, e.record?.stage, e.record?.agent]),
    [
      ["dev-libs/libsigc++/libsigc++-1.0-1.gpkg.tar", "binhost-e2e/first", "local-1"],
      ["dev-libs/libsigc++/libsigc++-1.0-2.gpkg.tar", "binhost-e2e/second", "local-1"],
    ],
  );

  // `stagefarm up` serves the same binhost, and its stages get its own address.
  const child = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1];
    const index = await fetch(`${base}/binhost/farm/Packages`);
    assert.equal(index.status, 200);
    assert.equal(parsePackages(await index.text()).packages.length, 2);
    const pkg = await fetch(`${base}/binhost/farm/dev-libs/libsigc%2B%2B/libsigc++-1.0-2.gpkg.tar`);
    assert.equal(pkg.status, 200);
    assert.equal(
      (await fetch(`${base}/binhost/farm/dev-libs/libsigc++/libsigc++-1.0-3.gpkg.tar`)).status,
      404,
    );

    const res = await fetch(`${base}/api/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        pipelineYaml: pipeline("binhost-up", "sys-libs/zlib"),
        pipelinePath: "other.yaml",
      }),
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const run = await poll(
      async () => {
        const j = (await (await fetch(`${base}/api/v1/runs/${id}`)).json()) as { status: string };
        return j.status === "running" ? undefined : j;
      },
      { timeoutMs: 120_000, what: "the run to finish", intervalMs: 100 },
    );
    assert.equal(run.status, "succeeded");
    assert.ok((await stageLog(sb, "second")).includes(`sync-uri=${base}/binhost/farm`));
    const after = parsePackages(await (await fetch(`${base}/binhost/farm/Packages`)).text());
    assert.equal(after.packages.length, 4);
    assert.equal(await child.stop("SIGTERM"), 143, child.describe());
  } finally {
    child.kill();
  }
});

/** A stage whose profile (make.profile/make.defaults) sets the implicit-IUSE variables. */
function profileStage(atom: string, defaults: string, extra = ""): string {
  return `
    runner: emerge
    env: { ROOT: gentoo, PORTAGE_CONFIGROOT: cfg }${extra}
    with:
      configs:
        - config_root: cfg
          make_conf: ""
          make_profile: { files: { make.defaults: ${JSON.stringify(defaults)} } }
      emerge: [{ command: ${DOUBLE}, args: ["-1", "${atom}"] }]
      binhost: { name: farm }
    outputs:
      record: gentoo/usr/share/${atom.split("/")[1] ?? ""}`;
}

void test("the index header carries the publishers' profile keys merged as portage merges them; configured keys win", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "profiles.yaml");
  const glibc = [
    'IUSE_IMPLICIT="abi_x86_64 prefix"',
    'USE_EXPAND="ELIBC KERNEL PYTHON_TARGETS"',
    'USE_EXPAND_HIDDEN="ELIBC KERNEL"',
    'USE_EXPAND_IMPLICIT="ARCH ELIBC KERNEL"',
    'USE_EXPAND_UNPREFIXED="ARCH"',
    'ELIBC="glibc"',
    'KERNEL="linux"',
    'USE_EXPAND_VALUES_ARCH="amd64 x86"',
    'USE_EXPAND_VALUES_ELIBC="glibc musl"',
    'USE_EXPAND_VALUES_KERNEL="linux"',
  ].join("\n");
  // A second profile: other implicit IUSE and values, which the merge unites with the first's.
  const musl = glibc
    .replace('"abi_x86_64 prefix"', '"abi_x86_64 prefix-guest"')
    .replace('"amd64 x86"', '"amd64 arm64"')
    .replace('"ELIBC KERNEL PYTHON_TARGETS"', '"ELIBC KERNEL LUA_TARGETS"');
  await writeFile(
    file,
    `pipeline: profiles
stages:
  first:${profileStage("dev-libs/libsigc++", glibc)}
  second:${profileStage("sys-libs/zlib", musl, "\n    inputs:\n      prev: first.record")}
`,
  );
  const r = await sb.run(["run", file]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  // The double wrote the profile's keys into PKGDIR/Packages as portage does.
  assert.match(await stageLog(sb, "first"), /emerge-double: created \S*Packages/);

  const header = async (): Promise<Record<string, string>> =>
    parsePackages(await readFile(join(sb.dir, "store/binhost/farm/Packages"), "utf8")).header;
  const h = await header();
  assert.equal(h.IUSE_IMPLICIT, "abi_x86_64 prefix prefix-guest");
  assert.equal(h.USE_EXPAND, "ELIBC KERNEL LUA_TARGETS PYTHON_TARGETS");
  assert.equal(h.USE_EXPAND_IMPLICIT, "ARCH ELIBC KERNEL");
  assert.equal(h.USE_EXPAND_UNPREFIXED, "ARCH");
  assert.equal(h.USE_EXPAND_VALUES_ARCH, "amd64 arm64 x86");
  assert.equal(h.USE_EXPAND_VALUES_ELIBC, "glibc musl");
  assert.equal(h.USE_EXPAND_VALUES_KERNEL, "linux");
  assert.equal(h.ARCH, "amd64");
  // Keys a client does not merge (USE_EXPAND_HIDDEN, ELIBC) are not copied.
  assert.equal(h.USE_EXPAND_HIDDEN, undefined);
  assert.equal(h.ELIBC, undefined);

  // A configured key wins over what the publishers said; the merged keys stay.
  const set = await sb.run(["binhost", "set", "farm", "--header", "ARCH=x86"]);
  assert.equal(set.code, 0, `${set.stdout}\n${set.stderr}`);
  const after = await header();
  assert.equal(after.ARCH, "x86");
  assert.equal(after.IUSE_IMPLICIT, "abi_x86_64 prefix prefix-guest");
});
