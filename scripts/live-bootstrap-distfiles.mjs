#!/usr/bin/env node
// Writes the live-bootstrap distfiles of one live-bootstrap commit as pinned-source inputs of
// the gentoo-bootstrap pipeline's `lb-distfiles` stage, between its BEGIN/END markers.
//
// It reads what live-bootstrap's own download-distfiles.sh reads: every `build:` entry of
// steps/manifest, then steps/<entry>/sources, whose lines are
//   f <url> <sha256> [filename]          a plain download
//   g <git-url~ref> <url|_> <sha256> [filename]   a tarball of a git ref (`_`: no public URL)
// Files are deduplicated by filename (as download-distfiles.sh does). Entries without a public
// URL are fetched from the `live_bootstrap_mirror` param (a live-bootstrap mirror, see its
// README), still pinned by sha256.
//
//   node scripts/live-bootstrap-distfiles.mjs --git DIR --rev COMMIT [--update PIPELINE.yaml]
//   node scripts/live-bootstrap-distfiles.mjs --checkout DIR [--update PIPELINE.yaml]
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    git: { type: "string" },
    rev: { type: "string" },
    checkout: { type: "string" },
    update: { type: "string" },
  },
});

function readRepoFile(path) {
  if (values.checkout !== undefined) {
    const p = join(values.checkout, path);
    return existsSync(p) ? readFileSync(p, "utf8") : undefined;
  }
  if (values.git === undefined || values.rev === undefined) {
    console.error("usage: --git DIR --rev COMMIT | --checkout DIR [--update FILE]");
    process.exit(2);
  }
  try {
    return execFileSync("git", ["--git-dir", values.git, "show", `${values.rev}:${path}`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return undefined;
  }
}

const manifest = readRepoFile("steps/manifest");
if (manifest === undefined) throw new Error("steps/manifest not found: is this a live-bootstrap checkout?");
const entries = [];
const seen = new Set();
for (const line of manifest.split("\n")) {
  const m = /^build:\s*(\S+)/.exec(line);
  if (!m) continue;
  const sources = readRepoFile(`steps/${m[1]}/sources`);
  if (sources === undefined) continue;
  for (const raw of sources.split("\n")) {
    const f = raw.trim().split(/\s+/);
    if (f.length < 3 || f[0].startsWith("#")) continue;
    let url, sha, name;
    if (f[0] === "f") [, url, sha, name] = f;
    else if (f[0] === "g") [, , url, sha, name] = f;
    else throw new Error(`steps/${m[1]}/sources: unknown line type "${f[0]}"`);
    name ??= url.split("/").pop();
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`steps/${m[1]}/sources: bad sha256 for ${name}`);
    if (seen.has(name)) continue;
    seen.add(name);
    entries.push({ name, url: url === "_" ? undefined : url, sha, step: m[1] });
  }
}

const used = new Set();
function inputName(file) {
  const base = `d-${file
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/-+$/, "")}`.slice(0, 90);
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
  used.add(name);
  return name;
}
const q = (s) => JSON.stringify(s);
const lines = entries.map((e) => {
  const url = e.url ?? `\${{ params.live_bootstrap_mirror }}/${e.name}`;
  return [
    `      ${inputName(e.name)}:`,
    `        url: ${q(url)}`,
    `        sha256: ${e.sha}`,
    `        path: ${q(`distfiles/${e.name}`)}`,
  ].join("\n");
});
const block = lines.join("\n");
const mirrored = entries.filter((e) => e.url === undefined).length;
const summary = `${entries.length} distfiles (${mirrored} from the mirror param)`;

if (values.update === undefined) {
  process.stdout.write(`${block}\n`);
  console.error(summary);
} else {
  const text = readFileSync(values.update, "utf8");
  const begin = text.indexOf("# BEGIN live-bootstrap distfiles");
  const end = text.indexOf("# END live-bootstrap distfiles");
  if (begin < 0 || end < begin)
    throw new Error(`${values.update}: BEGIN/END live-bootstrap distfiles markers not found`);
  const startOfBlock = text.indexOf("\n", begin) + 1;
  const endOfBlock = text.lastIndexOf("\n", end) + 1;
  writeFileSync(values.update, `${text.slice(0, startOfBlock)}${block}\n${text.slice(endOfBlock)}`);
  console.error(`${values.update}: ${summary}`);
}
