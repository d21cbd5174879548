/**
 * catalyst-double: a test double of Gentoo's `catalyst` executable, for the catalyst runner's
 * tests. Never on a path a user runs; tests start it as `node dist/test/doubles/catalyst-double.js`.
 *
 * It reads what Catalyst reads and writes files where Catalyst writes them, without building
 * anything:
 * - `-V`/`--version` prints `Catalyst <version>` (version from `--double-version V`, default
 *   4.1.1; `master` stands for Catalyst from git master, which ships the grub-theme cdtar).
 * - `-c FILE` (repeatable) is TOML merged over Catalyst's defaults (storedir /var/tmp/catalyst,
 *   repo_name gentoo, compression_mode lbzip2); `-f FILE` is the spec, parsed with Catalyst's
 *   syntax by its own small parser below. `-v`/`-d` are accepted and ignored.
 * - It refuses what Catalyst 4.1.1 refuses, checked against upstream's code with python3 (the
 *   facts are in shared/catalyst/upstream-4.1.1.ts, which this double reads): an `options` that
 *   is not a list (or absent: "'set' object has no attribute 'extend'"), a `digests` that is not a
 *   list of digest names, a lone `%` in a config string or in a spec key line's value (both are
 *   %-formatted: "incomplete format"), a spec key its target does not accept ("Argument … not
 *   recognized."), and a `livecd/cdtar` its version does not ship ("Cannot locate specified
 *   cdtar").
 * - It refuses like Catalyst (exit 1, message on stderr) when a required spec key is missing,
 *   when `portage_confdir` does not exist, when the seed `storedir/builds/<source_subpath>`
 *   (or that name with one extension) is missing or ambiguous, and when the snapshot
 *   `storedir/snapshots/<repo_name>-<snapshot_treeish>.sqfs` is missing.
 * - The "build": the seed is unpacked into storedir/tmp/<rel_type>/<target>-<subarch>-<stamp>,
 *   portage_confdir is copied to its etc/portage (as Catalyst's setup_confdir does), and a
 *   record of the build goes to etc/catalyst-double/<target>.
 * - It writes builds/<rel_type>/<target>-<subarch>-<version_stamp>.<ext> (a real tar, compressed
 *   per compression_mode), `.CONTENTS.gz`, and, when the config has `digests`, `.DIGESTS` and
 *   `.sha256`; for livecd-stage2 also the ISO named by `livecd/iso` (with the same side files)
 *   and the ISO staging directory; with the `pkgcache` option two gpkg binpkgs and a Packages
 *   index in the pkgcache (spec pkgcache_path, else storedir/packages/<rel_type>/<target>-<subarch>).
 * - `--double-fail MESSAGE` makes the build fail (exit 1) after the checks, printing MESSAGE;
 *   `--double-sleep-ms N` makes the build take N ms (for cancel tests).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { parse as parseToml } from "smol-toml";
import {
  CATALYST_TARGETS,
  SHAREDIR_FILES_SINCE,
  targetRequiredKeys,
  targetValidKeys,
  type CatalystTarget,
  GUARANTEED_DIGESTS,
  KERNEL_KEY_SUFFIXES,
} from "../../shared/catalyst/testing.js";

class Refusal extends Error {}

type Value = string | string[];

interface Args {
  version: boolean;
  doubleVersion: string;
  fail: string | undefined;
  sleepMs: number;
  configs: string[];
  spec: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    version: false,
    doubleVersion: "4.1.1",
    fail: undefined,
    sleepMs: 0,
    configs: [],
    spec: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Refusal(`argument ${arg}: expected one argument`);
      return v;
    };
    if (arg === "-V" || arg === "--version") a.version = true;
    else if (arg === "--double-version") a.doubleVersion = next();
    else if (arg === "--double-fail") a.fail = next();
    else if (arg === "--double-sleep-ms") a.sleepMs = Number(next());
    else if (arg === "-c" || arg === "--configs") a.configs.push(next());
    else if (arg === "-f" || arg === "--file") a.spec = next();
    else if (arg === "-v" || arg === "--verbose" || arg === "-d" || arg === "--debug") continue;
    else throw new Refusal(`unrecognized arguments: ${arg}`);
  }
  return a;
}

/**
 * Python's `text % mapping` for the cases Catalyst meets: `%%` and `%(name)s`; anything else is
 * the ValueError/KeyError Python raises.
 */
function pyFormat(text: string, mapping: ReadonlyMap<string, unknown>): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "%") {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === "%") {
      out += "%";
      i++;
      continue;
    }
    const m = /^\(([^)]*)\)s/.exec(text.slice(i + 1));
    if (m === null)
      throw new Refusal(
        next === undefined
          ? "ValueError: incomplete format"
          : `ValueError: unsupported format character '${next}'`,
      );
    const key = m[1] ?? "";
    if (!mapping.has(key)) throw new Refusal(`KeyError: '${key}'`);
    const v = mapping.get(key);
    out += Array.isArray(v) ? `[${v.map((x) => `'${String(x)}'`).join(", ")}]` : String(v);
    i += m[0].length;
  }
  return out;
}

/** Catalyst's spec syntax: trim, drop `#…`, `key: words`, other lines add words to the last key. */
function parseSpecFile(text: string): Map<string, Value> {
  const raw = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split("\n")) {
    const content = line.trim().replace(/\s*#.*$/, "");
    if (content === "") continue;
    const colon = content.indexOf(":");
    if (colon >= 0) {
      // config.py: the key line's value is %-formatted with the values parsed so far.
      const so_far = new Map<string, unknown>([...raw].map(([k, ws]) => [k, ws.length === 1 ? ws[0] : ws]));
      current = pyFormat(
        content
          .slice(colon + 1)
          .trim()
          .replace(/^"+|"+$/g, ""),
        so_far,
      )
        .split(/\s+/)
        .filter((w) => w !== "");
      raw.set(content.slice(0, colon), current);
    } else if (current !== undefined) {
      current.push(...content.split(/\s+/));
    } else {
      throw new Refusal(`Syntax error in spec file near: ${content}`);
    }
  }
  const out = new Map<string, Value>();
  for (const [k, ws] of raw) if (ws.length > 0) out.set(k, ws.length === 1 ? (ws[0] ?? "") : ws);
  return out;
}

function one(spec: Map<string, Value>, key: string): string | undefined {
  const v = spec.get(key);
  if (Array.isArray(v))
    throw new Refusal(
      `${key} should have been a string. Perhaps you have something wrong in your spec file?`,
    );
  return v;
}

const SEED_EXTS = [
  "tar.xz",
  "tpxz",
  "xz",
  "tar.bz2",
  "bz2",
  "tbz2",
  "squashfs",
  "sfs",
  "tar.gz",
  "gz",
  "tar",
];
const COMPRESSION: Record<string, { ext: string; flag: string[] }> = {
  pixz: { ext: "tar.xz", flag: ["-J"] },
  xz: { ext: "tar.xz", flag: ["-J"] },
  lbzip2: { ext: "tar.bz2", flag: ["-j"] },
  bzip2: { ext: "tar.bz2", flag: ["-j"] },
  gzip: { ext: "tar.gz", flag: ["-z"] },
  tar: { ext: "tar", flag: [] },
};
const HASHES: Record<string, string> = { blake2b: "blake2b512", blake2s: "blake2s256" };

function isTarget(name: string): name is CatalystTarget {
  return (CATALYST_TARGETS as string[]).includes(name);
}

/** support.addl_arg_parse with the target's keys (and StageBase's boot/kernel/<name>/* keys). */
function checkSpecKeys(target: CatalystTarget, spec: Map<string, Value>): void {
  const valid = targetValidKeys(target);
  const kernels = spec.get("boot/kernel");
  for (const name of kernels === undefined ? [] : typeof kernels === "string" ? [kernels] : kernels)
    for (const suffix of KERNEL_KEY_SUFFIXES) valid.add(`boot/kernel/${name}/${suffix}`);
  const messages: string[] = [];
  for (const k of spec.keys()) if (!valid.has(k)) messages.push(`Argument "${k}" not recognized.`);
  for (const k of targetRequiredKeys(target))
    if (!spec.has(k)) messages.push(`Required argument "${k}" not specified.`);
  if (messages.length > 0) throw new Refusal(messages.join("\n\tAlso: "));
}

/** main.py after parse_config: `options` is extended as a list, `digests` made a set and checked. */
function checkConf(conf: Record<string, unknown>): void {
  const mapping = new Map(Object.entries(conf));
  for (const [k, v] of Object.entries(conf)) if (typeof v === "string") conf[k] = pyFormat(v, mapping);
  const options = conf["options"];
  if (!Array.isArray(options))
    throw new Refusal(
      `AttributeError: '${typeof options === "string" ? "str" : "set"}' object has no attribute 'extend'`,
    );
  const digests = conf["digests"];
  if (digests === undefined) return;
  const names =
    typeof digests === "string" ? [...new Set(digests)] : Array.isArray(digests) ? digests.map(String) : [];
  const bad = names.filter((d) => !(GUARANTEED_DIGESTS as readonly string[]).includes(d)).sort();
  if (bad.length > 0) throw new Refusal(`These are not valid digest entries:\n${bad.join(", ")}`);
}

/** support.file_locate for `cdtar`: an absolute path must exist (this double's sharedir by version). */
function locateCdtar(path: string, version: string): void {
  const share = "/usr/share/catalyst/";
  if (path.startsWith(share)) {
    const fact = SHAREDIR_FILES_SINCE[path.slice(share.length)];
    if (fact !== undefined && (fact.since !== "master" || version === "master")) return;
    throw new Refusal(`Cannot locate specified cdtar: ${path}`);
  }
  if (path.startsWith("/") ? existsSync(path) : existsSync(join(process.cwd(), path))) return;
  throw new Refusal(`Cannot locate specified cdtar: ${path}${path.startsWith("/") ? "" : " (2nd try)"}`);
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** support.file_check: the exact file, else exactly one `<path>.*` that is not a side file. */
function fileCheck(path: string): string {
  if (existsSync(path) && statSync(path).isFile()) return path;
  const dir = dirname(path);
  const base = basename(path);
  const found = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n.startsWith(`${base}.`))
        .filter((n) => !/\.(CONTENTS|CONTENTS\.gz|DIGESTS|sha256)$/.test(n))
    : [];
  if (found.length > 1)
    throw new Refusal(`Ambiguous Filename: ${path}\nPlease specify the correct extension as well`);
  const [only] = found;
  if (only === undefined || !SEED_EXTS.some((e) => only === `${base}.${e}`))
    throw new Refusal(`File Not Found: ${path}`);
  return join(dir, only);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Refusal(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function hashFile(path: string, name: string): string {
  const algo = HASHES[name] ?? name;
  return createHash(algo).update(readFileSync(path)).digest("hex");
}

/** genbase: `.CONTENTS.gz` always, `.DIGESTS` and `.sha256` when the config lists digests. */
function sideFiles(path: string, listing: string, digests: string[] | undefined): void {
  writeFileSync(`${path}.CONTENTS.gz`, gzipSync(listing));
  if (digests === undefined) return;
  let text = "";
  for (const f of [path, `${path}.CONTENTS.gz`])
    for (const d of digests) text += `# ${d.toUpperCase()} HASH\n${hashFile(f, d)}  ${basename(f)}\n`;
  writeFileSync(`${path}.DIGESTS`, text);
  writeFileSync(`${path}.sha256`, `# SHA256 HASH\n${hashFile(path, "sha256")}  ${basename(path)}\n`);
}

/** A gpkg-named tar holding one metadata file, and its Packages stanza. */
function writeBinpkg(pkgdir: string, cpv: string, buildId: number): string {
  const [cat = "virtual", pf = "unknown-0"] = cpv.split("/");
  const pn = pf.replace(/-[0-9].*$/, "");
  const rel = `${cat}/${pn}/${pf}-${buildId}.gpkg.tar`;
  const work = join(pkgdir, ".double-work", pf);
  mkdirSync(join(work, `${pf}-${buildId}`), { recursive: true });
  writeFileSync(join(work, `${pf}-${buildId}`, "gpkg-1"), `gpkg-1 ${cpv}\n`);
  mkdirSync(join(pkgdir, cat, pn), { recursive: true });
  run("tar", ["-cf", join(pkgdir, rel), "-C", work, "--sort=name", `${pf}-${buildId}`]);
  const st = statSync(join(pkgdir, rel));
  return [
    `BUILD_ID: ${buildId}`,
    `CPV: ${cpv}`,
    `MD5: ${hashFile(join(pkgdir, rel), "md5")}`,
    `PATH: ${rel}`,
    `SHA1: ${hashFile(join(pkgdir, rel), "sha1")}`,
    `SIZE: ${st.size}`,
    `MTIME: ${Math.floor(st.mtimeMs / 1000)}`,
    "",
  ].join("\n");
}

function main(argv: string[]): number {
  const args = parseArgs(argv);
  if (args.version) {
    say(`Catalyst ${args.doubleVersion}\nreleased (stagefarm test double)`);
    return 0;
  }
  if (args.spec === undefined) throw new Refusal("please specify one of either -f or -C or -s");
  const conf: Record<string, unknown> = {
    storedir: "/var/tmp/catalyst",
    repo_name: "gentoo",
    compression_mode: "lbzip2",
    sharedir: "/usr/share/catalyst",
  };
  for (const c of args.configs) {
    say(`NOTICE:catalyst:Loading configuration file: ${c}`);
    Object.assign(conf, parseToml(readFileSync(c, "utf8")));
  }
  checkConf(conf);
  say(`NOTICE:catalyst:Processing spec file: ${args.spec}`);
  const spec = parseSpecFile(readFileSync(args.spec, "utf8"));
  const target = one(spec, "target");
  if (target === undefined) throw new Refusal('Required value "target" not specified.');
  if (!isTarget(target)) throw new Refusal(`Target "${target.replace(/-/g, "_")}" not available.`);
  checkSpecKeys(target, spec);
  const cdtar = one(spec, "livecd/cdtar");
  if (cdtar !== undefined) locateCdtar(cdtar, args.doubleVersion);
  const get = (k: string): string => one(spec, k) ?? "";
  const storedir = String(conf["storedir"]);
  const options = Array.isArray(conf["options"]) ? conf["options"].map(String) : [];
  const digests = Array.isArray(conf["digests"]) ? conf["digests"].map(String) : undefined;

  const confdir = one(spec, "portage_confdir");
  if (confdir !== undefined && !existsSync(confdir))
    throw new Refusal(`Cannot locate specified portage_confdir: ${confdir}`);
  const seed = fileCheck(join(storedir, "builds", get("source_subpath")));
  say(`NOTICE:catalyst:Source path set to ${seed}`);
  const snapshot = join(
    storedir,
    "snapshots",
    `${String(conf["repo_name"])}-${get("snapshot_treeish")}.sqfs`,
  );
  if (!existsSync(snapshot)) throw new Refusal(`snapshot ${snapshot} does not exist`);

  const relType = get("rel_type");
  const base = `${target}-${get("subarch")}-${get("version_stamp")}`;
  const chroot = join(storedir, "tmp", relType, base);
  mkdirSync(chroot, { recursive: true });
  run("tar", ["-xf", seed, "-C", chroot]);
  if (confdir !== undefined) cpSync(confdir, join(chroot, "etc/portage"), { recursive: true });
  mkdirSync(join(chroot, "etc/catalyst-double"), { recursive: true });
  writeFileSync(
    join(chroot, "etc/catalyst-double", target),
    ["target", "subarch", "version_stamp", "profile", "snapshot_treeish", "source_subpath"]
      .map((k) => `${k}: ${get(k)}\n`)
      .join(""),
  );
  say(`NOTICE:catalyst:--- Running action sequence: build_packages (double)`);
  // A long build, for cancel and timeout tests: blocks like a running emerge would.
  if (args.sleepMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, args.sleepMs);
  if (args.fail !== undefined) {
    say(`!!! ${args.fail}`);
    throw new Refusal(`CatalystError: build aborted due to error (${args.fail})`);
  }

  const builds = join(storedir, "builds", relType);
  mkdirSync(builds, { recursive: true });
  const mode = one(spec, "compression_mode") ?? String(conf["compression_mode"]);
  const comp = COMPRESSION[mode];
  if (comp === undefined) throw new Refusal(`compression_mode ${mode} is not supported by the double`);
  const result = join(builds, `${base}.${comp.ext}`);
  run("tar", ["-c", ...comp.flag, "-f", result, "-C", chroot, "--sort=name", "--numeric-owner", "."]);
  sideFiles(result, run("tar", ["-tvf", result]), digests);
  say(`NOTICE:catalyst:Creating stage tarball... mode: ${mode}`);

  if (target === "livecd-stage2") {
    const iso = one(spec, "livecd/iso");
    if (iso === undefined)
      say("WARNING:catalyst:livecd/iso was not defined.  An ISO Image will not be created.");
    else {
      const staging = join(builds, base);
      mkdirSync(join(staging, "boot"), { recursive: true });
      writeFileSync(join(staging, "boot/kernel"), "not a kernel\n");
      const isoPath = iso.startsWith("/") ? iso : join(builds, iso);
      const image = Buffer.alloc(36 * 1024);
      image.write("\x01CD001\x01", 0x8000, "latin1");
      image.write(`GENTOO ${get("livecd/volid")}`.slice(0, 32), 0x8028, "latin1");
      writeFileSync(isoPath, image);
      sideFiles(isoPath, "boot/kernel\n", digests);
      say(`NOTICE:catalyst:Creating ISO ${isoPath}`);
    }
  }

  if (options.includes("pkgcache")) {
    const pkgdir =
      one(spec, "pkgcache_path") ??
      join(
        storedir,
        "packages",
        relType,
        options.includes("versioned_cache") ? base : `${target}-${get("subarch")}`,
      );
    mkdirSync(pkgdir, { recursive: true });
    const listed = spec.get("livecd/packages");
    const atoms = Array.isArray(listed)
      ? listed.slice(0, 2).map((a) => `${a}-1.0`)
      : ["sys-apps/baselayout-2.17", "app-misc/double-hello-1.0"];
    const stanzas = atoms.map((cpv) => writeBinpkg(pkgdir, cpv, 1));
    writeFileSync(join(pkgdir, "Packages"), `ARCH: amd64\nVERSION: 0\n\n${stanzas.join("\n")}`);
    rmSync(join(pkgdir, ".double-work"), { recursive: true, force: true });
  }
  say("NOTICE:catalyst:Catalyst (double) completed successfully");
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err: unknown) {
  if (!(err instanceof Refusal)) throw err;
  process.stderr.write(`ERROR:catalyst:${err.message}\n`);
  process.exitCode = 1;
}
