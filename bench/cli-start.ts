/**
 * Start-up time of the CLI: `stagefarm --help` and `stagefarm validate` of the demo pipeline,
 * wall time medians as a ratio of a bare `node -e ''` measured in the same script. Target ≤ 2.5.
 *
 *   node dist/bench/cli-start.js [--runs N]
 */
import { execFileSync } from "node:child_process";
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
];
const samples = cases.map((): number[] => []);
// Interleaved, so that load on the machine affects every case alike.
for (let i = 0; i < runs; i++) cases.forEach(([, args], j) => samples[j]?.push(time(args)));
const base = median(samples[0] ?? []);
cases.forEach(([name], j) => {
  const m = median(samples[j] ?? []);
  console.log(`${name.padEnd(26)} median ${m.toFixed(0).padStart(5)} ms  ratio ${(m / base).toFixed(2)}`);
});
console.log(`(${runs} runs each; target: ratio ≤ 2.5)`);
