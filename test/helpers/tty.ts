/** Runs the built CLI on a pseudo-TTY (util-linux `script`), 120 columns wide. */
import { execFile } from "node:child_process";
import { cliPath, repoRoot, type CliResult } from "./cli.js";

const sq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The CLI's run on a terminal: `stdout` is what the terminal got (CRs removed). */
export function cliOnTty(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const cmd = `stty cols 120 rows 40; exec ${[process.execPath, cliPath, ...args].map(sq).join(" ")}`;
  return new Promise((done) => {
    execFile(
      "script",
      ["-qfec", cmd, "/dev/null"],
      { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        done({ code, stdout: stdout.replaceAll("\r", ""), stderr });
      },
    );
  });
}

/** The escape character, for patterns of cursor movement. */
export const ESC = String.fromCharCode(0x1b);
