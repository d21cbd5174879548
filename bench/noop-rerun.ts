/**
 * Wall time of a no-op rerun of the demo pipeline (everything cached) through the real CLI
 * process, against a baseline of a bare `node` start in the same script. Target: < 1 s.
 *
 *   node dist/bench/noop-rerun.js [--runs N]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const cli = join(root, "dist/cli/main.js");
const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;

const dir = mkdtempSync(join(tmpdir(), "sf-bench-"));
const env = {
  ...process.env,
  STAGEFARM_STORE: join(dir, "store"),
  STAGEFARM_WORK_DIR: join(dir, "work"),
  NO_COLOR: "1",
};

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

try {
  execFileSync(process.execPath, [cli, "run", "pipelines/demo/pipeline.yaml", "--quiet"], {
    cwd: root,
    env,
    stdio: "ignore",
  });
  const base: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < runs; i++) {
    base.push(time(() => execFileSync(process.execPath, ["-e", ""], { stdio: "ignore" })));
    noop.push(
      time(() => {
        const out = execFileSync(
          process.execPath,
          [cli, "run", "pipelines/demo/pipeline.yaml", "--json", "--quiet"],
          {
            cwd: root,
            env,
            stdio: ["ignore", "pipe", "ignore"],
          },
        ).toString();
        const summary = JSON.parse(out.trim().split("\n").pop() ?? "{}") as {
          stages?: { executed?: number };
        };
        if (summary.stages?.executed !== 0)
          throw new Error("the rerun executed stages: the bench is not measuring a no-op");
      }),
    );
  }
  const b = median(base);
  const n = median(noop);
  console.log(`bare node start:      median ${b.toFixed(0)} ms over ${runs} runs`);
  console.log(
    `no-op demo rerun:     median ${n.toFixed(0)} ms (max ${Math.max(...noop).toFixed(0)} ms) — target < 1000 ms`,
  );
  console.log(`ratio rerun / bare node start: ${(n / b).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
