/**
 * Every STAGEFARM_ variable the code reads appears in the --help of some command, so a new
 * variable without help fails here; and `stagefarm --help` loads no implementation.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { cliPath, repoRoot } from "../helpers/cli.js";

/** Variables stagefarm sets for stage scripts, not reads (agent/runners/common/script-env.ts). */
const SET_FOR_SCRIPTS = new Set(["STAGEFARM_STAGE", "STAGEFARM_WORKSPACE", "STAGEFARM_JOBS"]);

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: repoRoot, env: { PATH: process.env["PATH"] } },
      (err, stdout) => (err === null ? resolve(stdout) : reject(new Error(err.message, { cause: err }))),
    ),
  );
}

/** Every command path (`run`, `cache gc`, …) listed by the help texts, with its help. */
async function allHelp(prefix: string[] = []): Promise<string> {
  const text = await cli([...prefix, "--help"]);
  const section = text.split(/\nCommands:\n/)[1] ?? "";
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((m) => m[1] ?? "")
    .filter((n) => n !== "help");
  const subs = await Promise.all(names.map((n) => allHelp([...prefix, n])));
  return [text, ...subs].join("\n");
}

test("every STAGEFARM_ variable the code reads is shown by some command's --help", async () => {
  const read = new Set<string>();
  for (const dir of ["cli", "coordinator", "agent", "shared"])
    for (const file of await sources(join(repoRoot, dir))) {
      const text = await readFile(file, "utf8");
      for (const m of text.matchAll(/["'`](STAGEFARM_[A-Z0-9_]+)["'`]/g)) {
        const name = m[1] ?? "";
        if (!SET_FOR_SCRIPTS.has(name) && name !== "STAGEFARM_VERSION") read.add(name);
      }
    }
  assert.ok(
    read.has("STAGEFARM_COORDINATOR") && read.has("STAGEFARM_S3_RETRIES"),
    "the scan finds variables",
  );
  const help = await allHelp();
  const missing = [...read].filter((v) => !new RegExp(`\\b${v}\\b`).test(help)).sort();
  assert.deepEqual(missing, [], `variables read but not in any --help: ${missing.join(", ")}`);
});

test("`stagefarm --help` loads commander and the registrations only", async () => {
  const hooks = `data:text/javascript,${encodeURIComponent(
    `export async function load(u, c, n) { if (u.includes("/node_modules/")) console.error("LOADED " + u); return n(u, c); }`,
  )}`;
  const register = `data:text/javascript,${encodeURIComponent(
    `import { register } from "node:module"; register(${JSON.stringify(hooks)});`,
  )}`;
  const stderr = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ["--import", register, cliPath, "--help"], { cwd: repoRoot }, (err, _o, e) =>
      err === null ? resolve(e) : reject(new Error(err.message, { cause: err })),
    ),
  );
  const packages = new Set([...stderr.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1]));
  assert.deepEqual([...packages], ["commander"]);
});
