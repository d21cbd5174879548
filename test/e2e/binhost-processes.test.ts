/**
 * Several `stagefarm run` processes publishing to one binhost on one filesystem store at once
 * (issue 16, item 1). Each process runs a one-stage pipeline whose emerge (the double) builds a
 * different package; a barrier in front of the double lets every process reach its emerge
 * before any goes on, so the publications overlap. Every trial must end with every package in
 * the index, and the index writes of the processes must be serialised: the totals the
 * processes report are 1..N, and TIMESTAMP strictly increases with them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePackages } from "../../shared/binhost/index.js";
import { cliPath, repoRoot, type CliResult } from "../helpers/cli.js";

const DOUBLE = join(repoRoot, "test/doubles/emerge-double.sh");
const PROCESSES = 4;
const TRIALS = Number(process.env.SF_BINHOST_TRIALS ?? "3");

/** A wrapper that waits until all `n` processes reached their emerge, then runs the double. */
function barrierScript(dir: string, n: number): string {
  return `#!/bin/bash
: >"${dir}/$BASHPID"
until [ "$(ls "${dir}" | wc -l)" -ge ${n} ]; do sleep 0.01; done
exec ${DOUBLE} "$@"
`;
}

function pipeline(name: string, emerge: string, atom: string): string {
  return `pipeline: ${name}
stages:
  build:
    runner: emerge
    env: { ROOT: gentoo, PORTAGE_CONFIGROOT: cfg }
    with:
      configs: [{ config_root: cfg, make_conf: "" }]
      emerge: [{ command: ${emerge}, args: ["-1", "${atom}"] }]
      binhost: { name: farm }
    outputs:
      record: gentoo/usr/share/${atom.split("/")[1] ?? ""}
`;
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: repoRoot, env, timeout: 180_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    );
  });
}

/** "index TIMESTAMP T, N package(s)" from the log of pipeline `name`'s stage. */
async function publication(store: string, name: string): Promise<{ timestamp: number; total: number }> {
  for (const run of await readdir(join(store, "logs"))) {
    const dir = join(store, "logs", run, "build");
    for (const f of await readdir(dir).catch(() => [])) {
      const text = await readFile(join(dir, f), "utf8");
      if (!text.includes(`dev-libs/${name}`)) continue;
      const m = /index TIMESTAMP (\d+), (\d+) package\(s\)/.exec(text);
      if (m !== null) return { timestamp: Number(m[1]), total: Number(m[2]) };
    }
  }
  throw new Error(`no publication in the log of ${name}`);
}

interface Trial {
  lost: string[];
  order: Array<{ name: string; timestamp: number; total: number }>;
}

async function trial(dir: string): Promise<Trial> {
  const store = join(dir, "store");
  const barrier = join(dir, "barrier");
  await mkdir(barrier, { recursive: true });
  const emerge = join(dir, "emerge-barrier.sh");
  await writeFile(emerge, barrierScript(barrier, PROCESSES));
  await chmod(emerge, 0o755);
  const names = Array.from({ length: PROCESSES }, (_, i) => `pkg${i}`);
  const results = await Promise.all(
    names.map(async (n) => {
      const file = join(dir, `${n}.yaml`);
      await writeFile(file, pipeline(`procs-${n}`, emerge, `dev-libs/${n}`));
      const env = {
        ...process.env,
        STAGEFARM_STORE: store,
        STAGEFARM_WORK_DIR: join(dir, `work-${n}`),
        NO_COLOR: "1",
      };
      return runCli(["run", file], env);
    }),
  );
  for (const [i, r] of results.entries()) assert.equal(r.code, 0, `${names[i]}: ${r.stdout}\n${r.stderr}`);
  const index = parsePackages(await readFile(join(store, "binhost/farm/Packages"), "utf8"));
  const indexed = new Set(index.packages.map((p) => p.CPV));
  const lost = names.filter((n) => !indexed.has(`dev-libs/${n}-1.0`));
  const order = await Promise.all(names.map(async (name) => ({ name, ...(await publication(store, name)) })));
  order.sort((a, b) => a.total - b.total || a.timestamp - b.timestamp);
  assert.equal(
    Number(index.header.TIMESTAMP),
    Math.max(...order.map((o) => o.timestamp)),
    "the index is the last write",
  );
  return { lost, order };
}

void test(`${PROCESSES} stagefarm run processes publish to one binhost at once: every package indexed, TIMESTAMP strictly increasing`, async () => {
  const base = await mkdtemp(join(tmpdir(), "sf-bh-procs-"));
  try {
    const trials: Trial[] = [];
    for (let t = 0; t < TRIALS; t++) trials.push(await trial(join(base, `trial-${t}`)));
    const report = trials.map(
      (t, i) =>
        `trial ${i}: lost [${t.lost.join(" ")}]; writes ${t.order.map((o) => `${o.name}:${o.total}@${o.timestamp}`).join(" ")}`,
    );
    const lossy = trials.filter((t) => t.lost.length > 0).length;
    const lostTotal = trials.reduce((a, t) => a + t.lost.length, 0);
    const disorderly = trials.filter(
      (t) =>
        t.order.some((o, i) => o.total !== i + 1) ||
        t.order.some((o, i) => i > 0 && o.timestamp <= (t.order[i - 1]?.timestamp ?? 0)),
    ).length;
    const summary = `${lossy}/${TRIALS} trials lost packages (${lostTotal} lost), ${disorderly}/${TRIALS} with unserialised writes\n${report.join("\n")}`;
    process.stdout.write(`# ${summary.replaceAll("\n", "\n# ")}\n`);
    assert.equal(lossy + disorderly, 0, summary);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
