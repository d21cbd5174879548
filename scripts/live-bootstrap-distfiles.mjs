#!/usr/bin/env node
// Writes the live-bootstrap distfiles of one live-bootstrap commit as pinned-source inputs of
// the gentoo-bootstrap pipeline's `lb-distfiles` stage, between its BEGIN/END markers.
//
// It reads what live-bootstrap's rootfs.py reads (lib/generator.py, get_source_manifest): every
// `build:` entry of steps/manifest, then steps/<entry>/sources. Two line formats exist:
//   <url> <sha256> [filename]            live-bootstrap 1.0 (2024-06) until 2025-07
//   f <url> <sha256> [filename]          later: a plain download
//   g <git-url~ref> <url|_> <sha256> [filename]   later: a tarball of a git ref (`_`: no public URL)
// At 1.0 a file may be listed more than once with another URL (a mirror, e.g. archive.org):
// the first URL is the pinned source and the others are written beside it as comments, for
// when the first one stops serving the file. Files are deduplicated by filename. Entries without
// a public URL are fetched from the `live_bootstrap_mirror` param (a live-bootstrap mirror, see
// its README), still pinned by sha256; the pipeline needs that param only for such a commit.
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
const seen = new Map();
for (const line of manifest.split("\n")) {
  const m = /^build:\s*(\S+)/.exec(line);
  if (!m) continue;
  const sources = readRepoFile(`steps/${m[1]}/sources`);
  if (sources === undefined) continue;
  for (const raw of sources.split("\n")) {
    const f = raw.trim().split(/\s+/);
    if (f[0] === "" || f[0].startsWith("#")) continue;
    let url, sha, name;
    if (f[0] === "f" && f.length >= 3) [, url, sha, name] = f;
    else if (f[0] === "g" && f.length >= 4) [, , url, sha, name] = f;
    else if (/^[a-z]+:\/\//.test(f[0]) && f.length >= 2 && f.length <= 3) [url, sha, name] = f;
    else throw new Error(`steps/${m[1]}/sources: cannot read the line "${raw.trim()}"`);
    name ??= url.split("/").pop();
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`steps/${m[1]}/sources: bad sha256 for ${name}`);
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      if (earlier.sha !== sha) throw new Error(`steps/${m[1]}/sources: ${name} listed with two sha256s`);
      if (url !== "_" && url !== earlier.url && !earlier.also.includes(url)) earlier.also.push(url);
      continue;
    }
    const entry = { name, url: url === "_" ? undefined : url, sha, step: m[1], also: [] };
    seen.set(name, entry);
    entries.push(entry);
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
    ...e.also.map((u) => `      # also at ${u}`),
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
