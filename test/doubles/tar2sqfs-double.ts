/**
 * tar2sqfs-double: a test double of squashfs-tools-ng's `tar2sqfs`, for the catalyst runner's
 * tests (the runner packs a `git archive` snapshot with it, as `catalyst --snapshot` does).
 * Tests start it as `node dist/test/doubles/tar2sqfs-double.js`.
 *
 * `tar2sqfs <out> [-q] [-f] [-j N] [-c gzip|xz|zstd|lzo|lz4] [-r DIR]`: reads an uncompressed tar
 * on stdin (listed with GNU tar, so a damaged archive is refused) and writes `<out>`: the squashfs
 * magic `hsqs`, then the archive's file names (below DIR, prefix stripped) one a line. Like the
 * real tool it refuses an existing `<out>` without `-f`, an unknown option or compressor, and,
 * with `-r DIR`, an archive holding nothing below DIR.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

class Refusal extends Error {}

function main(argv: string[]): void {
  let out: string | undefined;
  let force = false;
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i] ?? "";
    // getopt: a short option's value may be attached (`-j1`, as catalyst passes it).
    let attached: string | undefined;
    if (/^-[jcrX]./.test(a)) {
      attached = a.slice(2);
      a = a.slice(0, 2);
    }
    const value = (): string => {
      if (attached !== undefined) return attached;
      const v = argv[++i];
      if (v === undefined) throw new Refusal(`option ${a} requires an argument`);
      return v;
    };
    if (a === "-q" || a === "--quiet") continue;
    else if (a === "-f" || a === "--force") force = true;
    else if (a === "-j" || a === "--num-jobs") {
      if (!/^[1-9]\d*$/.test(value())) throw new Refusal("-j needs a positive number");
    } else if (a === "-c" || a === "--compressor") {
      const c = value();
      if (!["gzip", "xz", "zstd", "lzo", "lz4", "lzma"].includes(c))
        throw new Refusal(`unsupported compressor '${c}'`);
    } else if (a === "-r" || a === "--root-becomes") root = value();
    else if (a.startsWith("-")) throw new Refusal(`unknown option '${a}'`);
    else if (out === undefined) out = a;
    else throw new Refusal("Unknown extra argument");
  }
  if (out === undefined) throw new Refusal("Usage: tar2sqfs [OPTIONS...] <sqfsfile>");
  if (existsSync(out) && !force) throw new Refusal(`${out}: File exists`);
  const input = readFileSync(0);
  const listed = spawnSync("tar", ["-t"], { input, encoding: "utf8", maxBuffer: 256 << 20 });
  if (listed.status !== 0) throw new Refusal(`reading tar from stdin: ${listed.stderr.trim()}`);
  let names = listed.stdout.split("\n").filter((n) => n !== "");
  if (root !== undefined) {
    const prefix = `${root.replace(/\/+$/, "")}/`;
    names = names
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length))
      .filter((n) => n !== "");
    if (names.length === 0) throw new Refusal(`no entries below ${root} in the archive`);
  }
  writeFileSync(out, `hsqs\n${names.join("\n")}\n`);
}

try {
  main(process.argv.slice(2));
} catch (err: unknown) {
  if (!(err instanceof Refusal)) throw err;
  process.stderr.write(`tar2sqfs: ${err.message}\n`);
  process.exitCode = 1;
}
