/**
 * Shell text for the emerge runner: quoting, the chroot scripts (config writes and one emerge
 * invocation), and the `>>>` log line. Every value from a pipeline reaches bash single-quoted
 * (`'…'` with `'` written as `'\''`), so nothing in it is expanded or interpreted; file
 * contents are written with the `printf '%s'` builtin (no argument length limit, no NUL in
 * pipeline strings).
 */
import { posix } from "node:path";
import type { PlannedInvocation, WriteOp } from "./plan.js";

const PLAIN_RE = /^[A-Za-z0-9_/.,:=@%+^-]+$/;

/** One shell word holding exactly `s`. */
export function shQuote(s: string): string {
  if (PLAIN_RE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `KEY=value … command args…`, as a person would retype it. */
export function commandLine(env: Record<string, string>, command: string, args: readonly string[]): string {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${shQuote(v)}`);
  return [...vars, shQuote(command), ...args.map(shQuote)].join(" ");
}

/** The log line announcing an invocation. */
export function invocationLine(inv: PlannedInvocation): string {
  return `>>> emerge ${inv.index}/${inv.total}: ${commandLine(inv.shownEnv, inv.command, inv.args)}`;
}

/** `emerge 2/7 (emerge -O1 sys-libs/glibc)`: an invocation named in an error. */
export function invocationName(inv: PlannedInvocation): string {
  return `emerge invocation ${inv.index}/${inv.total} (${commandLine({}, inv.command, inv.args)})`;
}

function writeFile(pathVar: string, content: string): string {
  return `printf '%s' ${shQuote(content)} > "${pathVar}"`;
}

/** A bash script (run with `set -e`) carrying out `ops` and echoing `wrote <path>` for each file. */
export function writesScript(ops: readonly WriteOp[]): string {
  const lines = ["set -e", "umask 022"];
  for (const op of ops) {
    const p = shQuote(op.path);
    lines.push(`p=${p}`);
    switch (op.t) {
      case "file":
        if (op.intoDir !== undefined) lines.push(`if [ -d "$p" ]; then p="$p"/${shQuote(op.intoDir)}; fi`);
        lines.push(`mkdir -p -- "$(dirname -- "$p")"`, writeFile("$p", op.content), `echo "wrote $p"`);
        break;
      case "link":
        lines.push(
          `rm -rf -- "$p"`,
          `mkdir -p -- "$(dirname -- "$p")"`,
          `ln -s -- ${shQuote(op.target)} "$p"`,
          `echo "linked $p -> "${shQuote(op.target)}`,
        );
        break;
      case "dir":
        lines.push(`rm -rf -- "$p"`, `mkdir -p -- "$p"`);
        for (const [name, content] of Object.entries(op.files)) {
          lines.push(`f="$p"/${shQuote(name)}`, `mkdir -p -- "$(dirname -- "$f")"`, writeFile("$f", content));
          lines.push(`echo "wrote $f"`);
        }
        break;
      case "remove":
        lines.push(`if [ -e "$p" -o -L "$p" ]; then rm -f -- "$p"; echo "removed $p"; fi`);
        break;
      case "conf-dir": {
        const keep = shQuote(posix.join(op.path, op.keepFileAs));
        lines.push(
          `if [ -e "$p" -o -L "$p" ] && [ ! -d "$p" ]; then mv -- "$p" "$p.stagefarm-tmp"; mkdir -- "$p"; mv -- "$p.stagefarm-tmp" ${keep}; echo "moved the file $p to "${keep}; fi`,
          `mkdir -p -- "$p"`,
        );
        break;
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The script for one invocation inside the chroot. Its variables are exported again after the
 * login shell read /etc/profile (which sets PATH and others from env.d), so the pipeline's
 * values win; the command replaces the shell, so its exit status is the script's.
 */
export function invocationScript(inv: PlannedInvocation): string {
  const lines = ["umask 022"];
  for (const [k, v] of Object.entries(inv.env)) lines.push(`export ${k}=${shQuote(v)}`);
  lines.push(`cd -- ${shQuote(inv.cwd)} || exit 1`);
  lines.push(`exec ${[inv.command, ...inv.args].map(shQuote).join(" ")}`);
  return `${lines.join("\n")}\n`;
}
