/**
 * `stagefarm validate` loads the pipeline parser and nothing of the farm (its start-up time:
 * bench/cli-start.ts): no gRPC, NATS, S3, pino or execa, and zod only when the pipeline has a
 * stage whose runner has a `with` schema (shared/runner-config/index.ts). What was loaded is read
 * from Node's own module debug log (NODE_DEBUG=esm,module), which also lists what require()
 * loads, so the lazy schema loading is seen too (the second test proves the log shows it).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cliPath, repoRoot } from "../helpers/cli.js";

/** Packages the validate path must never load. */
const FARM_PACKAGES = [
  "@grpc/grpc-js",
  "nats",
  "minio",
  "pino",
  "execa",
  "@bufbuild/protobuf",
  "prom-client",
];

interface Loaded {
  code: number;
  stdout: string;
  /** stderr without Node's debug lines. */
  stderr: string;
  packages: Set<string>;
}

function validate(args: string[], nodeFlags: string[] = []): Promise<Loaded> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [...nodeFlags, cliPath, "validate", ...args],
      {
        cwd: repoRoot,
        env: { PATH: process.env["PATH"], NO_COLOR: "1", NODE_DEBUG: "esm,module" },
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => {
        const debug = /^(ESM|MODULE) \d+: /;
        const lines = stderr.split("\n");
        resolve({
          code: err === null ? 0 : typeof err.code === "number" ? err.code : 1,
          stdout,
          // Debug records may span lines (objects): keep only the lines the CLI itself wrote.
          stderr: lines.filter((l) => l.startsWith("stagefarm:") || /:\d+:\d+: error: /.test(l)).join("\n"),
          packages: new Set(
            lines
              .filter((l) => debug.test(l))
              .flatMap((l) =>
                [...l.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1] ?? ""),
              ),
          ),
        });
      },
    ),
  );
}

const WITH_PROBLEM = `pipeline: with-check
stages:
  root:
    runner: shell
    script: mkdir -p out/root
    outputs:
      tree: { path: out/root, kind: tree }
  inside:
    runner: chroot
    inputs:
      root: { from: root.tree, path: rootfs }
    with:
      root: rootfs
      binds: [{ from: in, to: relative/dir }]
    script: "true"
`;

test("validate of a pipeline of shell stages loads neither the farm's packages nor zod", async () => {
  const r = await validate(["pipelines/demo/pipeline.yaml"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pipelines\/demo\/pipeline\.yaml: ok — pipeline demo, 6 stages, 2 params\n$/);
  assert.ok(r.packages.has("commander"), `the debug log lists packages: ${[...r.packages].join(", ")}`);
  // Without require(esm) (Node before 20.19) the schemas, and zod, load up front.
  const never = process.features.require_module ? [...FARM_PACKAGES, "zod"] : FARM_PACKAGES;
  for (const p of never) assert.ok(!r.packages.has(p), `validate loaded ${p}`);
});

test("validate loads a runner's with schema when a stage needs it, with require(esm) or without", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sf-validate-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "pipeline.yaml");
  await writeFile(file, WITH_PROBLEM);
  const expected = `stagefarm: ${file}:14:31: error: stage "inside" (runner chroot) with.binds[0].to: must be an absolute path inside the root`;
  // Node without require(esm) (before 20.19, or with this flag): the schemas are imported up front.
  const [lazy, eager, json] = await Promise.all([
    validate([file]),
    // (Node before 20.19 has no require(esm) and takes that path without the flag.)
    validate([file], process.features.require_module ? ["--no-experimental-require-module"] : []),
    validate(["--json", file]),
  ]);
  assert.equal(lazy.code, 2);
  assert.equal(lazy.stderr, expected);
  assert.ok(lazy.packages.has("zod"), "the schema (and zod) was loaded when the chroot stage was checked");
  for (const p of FARM_PACKAGES) assert.ok(!lazy.packages.has(p), `validate loaded ${p}`);
  assert.equal(eager.code, 2);
  assert.equal(eager.stderr, expected);
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stdout), {
    ok: false,
    file,
    code: "invalid_pipeline",
    issues: [
      {
        file,
        line: 14,
        col: 31,
        message: 'stage "inside" (runner chroot) with.binds[0].to: must be an absolute path inside the root',
      },
    ],
  });
});
