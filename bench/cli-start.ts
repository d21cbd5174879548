/**
 * Start-up time of the CLI: `stagefarm --help` and `stagefarm validate` of the demo pipeline,
 * wall time medians as a ratio of a bare `node -e ''` measured in the same script. Target ≤ 2.5.
 * Also validate of the Gentoo bootstrap pipeline (1,300 lines, chroot and emerge stages, so the
 * `with` schemas and zod load), for information. Measures what `npm run build` makes: validate's
 * implementation bundled into one module (scripts/bundle-cli.mjs); it says so when it is not.
 *
 *   npm run build && node dist/bench/cli-start.js [--runs N]
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const cli = join(root, "dist/cli/main.js");
const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs needs a positive whole number");

function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  execFileSync(process.execPath, args, {
    cwd: root,
    stdio: "ignore",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const cases: Array<[string, string[]]> = [
  ["node -e ''", ["-e", ""]],
  ["stagefarm --help", [cli, "--help"]],
  ["stagefarm validate demo", [cli, "validate", "pipelines/demo/pipeline.yaml"]],
  ["validate gentoo-bootstrap", [cli, "validate", "pipelines/gentoo-bootstrap/pipeline.yaml"]],
];
// tsc emits validate-run.js importing its modules one by one; the bundle inlines them.
if (readFileSync(join(root, "dist/cli/validate-run.js"), "utf8").includes('from "./pipeline-arg.js"'))
  console.log("note: dist/cli/validate-run.js is not bundled (tsc only): run `npm run build` first");
const samples = cases.map((): number[] => []);
// Interleaved, so that load on the machine affects every case alike.
for (let i = 0; i < runs; i++) cases.forEach(([, args], j) => samples[j]?.push(time(args)));
const base = median(samples[0] ?? []);
cases.forEach(([name], j) => {
  const m = median(samples[j] ?? []);
  console.log(`${name.padEnd(26)} median ${m.toFixed(0).padStart(5)} ms  ratio ${(m / base).toFixed(2)}`);
});
console.log(`(${runs} runs each; target: ratio ≤ 2.5 for --help and validate demo)`);
