/**
 * The CLI side of the Gentoo pipelines, as a user runs it on a machine with no Gentoo and no
 * servers: `validate` and `plan` of both shipped pipelines (DAG, critical path, expected hours,
 * the params a run still needs), `stagefarm import` (digest = sha256 of the file, idempotent),
 * a pipeline whose seed is an imported artifact (run refused without it, then run with it),
 * and plans that take a stage's expected duration from recorded history once it has run.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";

const BOOTSTRAP = "pipelines/gentoo-bootstrap/pipeline.yaml";
const RELEASE = "pipelines/catalyst-release/pipeline.yaml";
const HOUR = 3_600_000;

interface PlanJson {
  rows: Array<{
    stage: string;
    status: string;
    expectedMs: number;
    deps: string[];
    paramsMissing?: string[];
  }>;
  criticalPath: { path: string[]; totalMs: number };
  paramsMissing: string[];
  expected: Record<string, { ms: number; from: string; runs: number }>;
}

void describe("the Gentoo pipelines from the CLI", () => {
  void test("validate: both shipped pipelines are valid and name the params a run needs", async () => {
    await using cli = await CliSandbox.create();
    const b = await cli.run(["validate", BOOTSTRAP]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /pipeline gentoo-bootstrap, 15 stages/);
    assert.match(
      b.stdout,
      /required, give with --param to run: live_bootstrap, portage_sha256, snapshot_sha256/,
    );
    const r = await cli.run(["validate", RELEASE, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lastJsonLine(r.stdout)["paramsMissing"], [
      "seed",
      "installcd_seed",
      "releng_sha256",
      "snapshot_sha256",
    ]);
  });

  void test("plan gentoo-bootstrap: the whole chain is the critical path, ~12 h to a workable chroot", async () => {
    await using cli = await CliSandbox.create();
    const out = await cli.run(["plan", BOOTSTRAP, "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const plan = lastJsonLine(out.stdout) as unknown as PlanJson;
    const order = plan.rows.map((r) => r.stage);
    assert.deepEqual(order.slice(0, 3), ["lb-distfiles", "live-bootstrap", "sources"]);
    assert.equal(order.at(-1), "seed");
    assert.deepEqual(plan.criticalPath.path.slice(-4), ["native-system", "world", "rust", "seed"]);
    const upToWorld = plan.criticalPath.path
      .slice(0, plan.criticalPath.path.indexOf("world") + 1)
      .reduce((ms, s) => ms + (plan.rows.find((r) => r.stage === s)?.expectedMs ?? 0), 0);
    assert.ok(upToWorld > 11 * HOUR && upToWorld < 13 * HOUR, `to a workable chroot: ${upToWorld / HOUR} h`);
    assert.deepEqual(plan.rows.find((r) => r.stage === "sources")?.paramsMissing, [
      "portage_sha256",
      "snapshot_sha256",
    ]);
    assert.equal(plan.rows.find((r) => r.stage === "sources")?.status, "needs-param");
    assert.equal(plan.expected["rust"]?.from, "estimate");
    const text = await cli.run(["plan", BOOTSTRAP]);
    assert.match(text.stdout, /Critical path \(\*\): lb-distfiles → live-bootstrap → squashfs-tools/);
    assert.match(text.stdout, /--param portage_sha256=… {2}sha256 of portage/);
  });

  void test("plan catalyst-release: three parallel branches, the desktop stage3 on the critical path", async () => {
    await using cli = await CliSandbox.create();
    const out = await cli.run(["plan", RELEASE, "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const plan = lastJsonLine(out.stdout) as unknown as PlanJson;
    const deps = (s: string): string[] => plan.rows.find((r) => r.stage === s)?.deps ?? [];
    assert.ok(deps("stage3d-systemd").includes("stage1-systemd"));
    assert.ok(deps("installcd-stage2-minimal").includes("installcd-stage1"));
    assert.ok(
      !deps("installcd-stage1").includes("stage3-openrc"),
      "the procedure seeds the CD from the seed",
    );
    assert.deepEqual(plan.criticalPath.path.slice(-2), ["stage1-systemd", "stage3d-systemd"]);
  });

  void test("import prints the sha256 of the file and stores it once", async () => {
    await using cli = await CliSandbox.create();
    const file = join(cli.dir, "stage3-bootstrap.tar.xz");
    await writeFile(file, "not really a seed\n");
    const sha = createHash("sha256")
      .update(await readFile(file))
      .digest("hex");
    const a = await cli.run(["import", file, "--json"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(lastJsonLine(a.stdout)["digest"], sha);
    const b = await cli.run(["import", file]);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(b.stdout.startsWith(`${sha}  ${file}`), b.stdout);
    const missing = await cli.run(["import", join(cli.dir, "nope.tar")]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot import .*nope\.tar: no such file/);
  });

  void test("an artifact input: refused before the run without its digest or blob, used with it", async () => {
    await using cli = await CliSandbox.create();
    const pipeline = join(cli.dir, "seeded.yaml");
    await writeFile(
      pipeline,
      `pipeline: seeded
params:
  seed: { required: true, description: the seed digest }
stages:
  unpack:
    runner: shell
    estimate: 2h
    inputs:
      seed: { artifact: "\${{ params.seed }}", path: seed.tar, unpack: true }
    script: cat seed.tar/etc/marker > marker
    outputs: { marker: marker }
`,
    );
    const noParam = await cli.run(["run", pipeline]);
    assert.notEqual(noParam.code, 0);
    assert.match(
      noParam.stderr,
      /needs a value for a required param:\n\s+--param seed=… {2}\(the seed digest\)/,
    );

    const absent = "e".repeat(64);
    const notStored = await cli.run(["run", pipeline, "--param", `seed=${absent}`]);
    assert.notEqual(notStored.code, 0);
    assert.match(notStored.stderr, new RegExp(`stage "unpack" input "seed": sha256 ${absent}`));
    assert.match(notStored.stderr, /stagefarm import FILE/);

    const tree = join(cli.dir, "seed-root");
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkdir", ["-p", join(tree, "etc")]);
    await writeFile(join(tree, "etc/marker"), "seeded\n");
    execFileSync("tar", ["-C", tree, "-cf", join(cli.dir, "seed.tar"), "."]);
    const imported = await cli.run(["import", join(cli.dir, "seed.tar"), "--json"]);
    const digest = String(lastJsonLine(imported.stdout)["digest"]);
    const ok = await cli.run(["run", pipeline, "--param", `seed=${digest}`, "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((lastJsonLine(ok.stdout)["stages"] as Record<string, number>)["executed"], 1);

    // The stage has run once: a plan for another seed expects its recorded duration, not 2h.
    const other = await cli.run(["plan", pipeline, "--param", `seed=${absent}`, "--json"]);
    const plan = lastJsonLine(other.stdout) as unknown as PlanJson;
    assert.equal(plan.expected["unpack"]?.from, "history");
    assert.equal(plan.expected["unpack"]?.runs, 1);
    assert.ok((plan.rows[0]?.expectedMs ?? HOUR) < 60_000);
    const text = await cli.run(["plan", pipeline, "--param", `seed=${absent}`]);
    assert.match(text.stdout, /\(median of 1 run\)/);
  });
});
