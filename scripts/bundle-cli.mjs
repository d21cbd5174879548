#!/usr/bin/env node
/**
 * After `tsc`: replaces dist/cli/validate-run.js (what `stagefarm validate` loads) by one file
 * holding it and everything it imports (the pipeline parser, yaml), so that validate loads a few
 * modules instead of some 150 (start-up time: bench/cli-start.ts, docs/benchmarks.md). Run by
 * `npm run build`; a plain `tsc` leaves the unbundled module, which behaves the same, only
 * slower to load. Running it twice is harmless (the bundle bundles to itself).
 *
 * Kept as separate modules (imported by path from the bundle):
 * - shared/errors.js: StagefarmError is one class for the whole process (main.ts maps it to
 *   exit statuses with instanceof);
 * - shared/runner-config/index.js: it loads each runner's `with` schema (and zod) by a path
 *   relative to itself, only when a pipeline has a stage of that runner.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const ENTRIES = ["cli/validate-run.js"];
const SEPARATE = new Set(["shared/errors.js", "shared/runner-config/index.js"].map((p) => join(dist, p)));

/** Resolves imports of the SEPARATE modules to a path relative to the bundle (which replaces `entry`). */
function separate(entry) {
  return {
    name: "stagefarm-separate-modules",
    resolveId(source, importer) {
      if (importer === undefined || !source.startsWith(".")) return null;
      const target = resolve(dirname(importer), source);
      if (!SEPARATE.has(target)) return null;
      const rel = relative(dirname(entry), target).split(sep).join("/");
      return { id: rel.startsWith(".") ? rel : `./${rel}`, external: true };
    },
  };
}

for (const name of ENTRIES) {
  const entry = join(dist, name);
  if (!existsSync(entry)) {
    console.error(`bundle-cli: ${relative(root, entry)} is missing: run tsc first`);
    process.exit(1);
  }
  const out = await mkdtemp(join(tmpdir(), "stagefarm-bundle-"));
  try {
    const bundle = await rolldown({
      input: entry,
      platform: "node",
      plugins: [separate(entry)],
      logLevel: "warn",
    });
    try {
      await bundle.write({
        dir: out,
        format: "esm",
        entryFileNames: "bundle.js",
        codeSplitting: false,
        sourcemap: true,
      });
    } finally {
      await bundle.close();
    }
    await rename(join(out, "bundle.js"), entry);
    await rename(join(out, "bundle.js.map"), `${entry}.map`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
