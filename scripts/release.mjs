// Builds the self-contained release tarball: stagefarm-<version>/ holding dist/ (without the
// compiled tests and benches), the production node_modules (the packages package-lock.json
// does not mark dev), bin/stagefarm (the launcher), deploy/, pipelines/, README.md and
// package.json. It unpacks to a prefix such as /opt/stagefarm-<version> and runs with Node 20,
// without a TypeScript build or npm on the host (deploy/README.md, step 1).
//
//   node scripts/release.mjs [--out DIR] [--no-build]
//
// Without --no-build it runs `npm run build` first (TypeScript and the dashboard). The packages
// are copied from this checkout's node_modules (installed with `npm ci`), so no registry is
// needed. The archive is deterministic for a given tree: sorted names, numeric owner 0, and
// mtimes clamped to SOURCE_DATE_EPOCH (default: the last commit's time).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const args = process.argv.slice(2);
let out = join(root, "release");
let build = true;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out" && args[i + 1] !== undefined) out = resolve(args[++i]);
  else if (args[i] === "--no-build") build = false;
  else {
    console.error(
      `release: unknown argument ${args[i]}\nusage: node scripts/release.mjs [--out DIR] [--no-build]`,
    );
    process.exit(2);
  }
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ["ignore", "inherit", "inherit"], ...opts });
  if (r.error !== undefined || r.status !== 0) {
    console.error(`release: ${cmd} ${argv.join(" ")} failed (${r.error?.message ?? `status ${r.status}`})`);
    process.exit(1);
  }
  return r;
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
if (lock.lockfileVersion < 2) {
  console.error("release: package-lock.json must be lockfileVersion 2 or later (npm 7+)");
  process.exit(1);
}
if (build) run("npm", ["run", "build"], { cwd: root });
if (!existsSync(join(root, "dist/cli/main.js"))) {
  console.error("release: dist/cli/main.js is missing: build first (npm run build)");
  process.exit(1);
}
if (!existsSync(join(root, "dist/web/index.html")))
  console.error("release: warning: dist/web is not built (npm run build:web): the release has no dashboard");

const name = `stagefarm-${pkg.version}`;
const staging = mkdtempSync(join(tmpdir(), "stagefarm-release-"));
try {
  const dest = join(staging, name);
  mkdirSync(dest);
  const skipDist = new Set([join(root, "dist/test"), join(root, "dist/bench")]);
  cpSync(join(root, "dist"), join(dest, "dist"), {
    recursive: true,
    filter: (src) => !skipDist.has(src) && !src.endsWith(".tsbuildinfo"),
  });
  for (const dir of ["bin", "deploy", "pipelines"])
    cpSync(join(root, dir), join(dest, dir), { recursive: true });
  for (const file of ["README.md", "package.json", "package-lock.json"])
    cpSync(join(root, file), join(dest, file));

  // Production packages: every lockfile entry not marked dev (or dev-optional), each without its
  // nested node_modules (those are entries of their own). Optional ones absent here are skipped.
  let copied = 0;
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (path === "" || !path.startsWith("node_modules/") || meta.dev === true || meta.devOptional === true)
      continue;
    if (meta.link === true) {
      console.error(`release: ${path} is a link (a workspace): not supported`);
      process.exit(1);
    }
    const src = join(root, path);
    if (!existsSync(src)) {
      if (meta.optional === true) continue;
      console.error(`release: ${path} is not installed: run npm ci first`);
      process.exit(1);
    }
    const nested = join(src, "node_modules");
    cpSync(src, join(dest, path), { recursive: true, filter: (p) => p !== nested });
    copied++;
  }

  const epoch =
    process.env.SOURCE_DATE_EPOCH ??
    spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" }).stdout?.trim() ??
    "";
  const mtime = /^\d+$/.test(epoch) ? `@${epoch}` : "@0";
  mkdirSync(out, { recursive: true });
  const tarball = join(out, `${name}.tar.gz`);
  run("tar", [
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=${mtime}`,
    "--clamp-mtime",
    "-czf",
    tarball,
    "-C",
    staging,
    name,
  ]);
  const sha = createHash("sha256").update(readFileSync(tarball)).digest("hex");
  const mib = (statSync(tarball).size / 2 ** 20).toFixed(1);
  console.log(`${tarball} (${mib} MiB, ${copied} packages)\nsha256 ${sha}  ${basename(tarball)}`);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
