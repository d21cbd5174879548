/**
 * `stagefarm run --repro` on the embedded farm (the built CLI, a real store, real shell stages):
 * a deterministic stage is reproducible; one that writes the time into a file a package owns
 * differs, the verdict naming that package and file; the cache keeps the first build; a name
 * that is not a stage is refused; `--repro-strict` fails the run naming the stage and package.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";
import type { ReproDoc } from "../../coordinator/index.js";

const pipeline = `pipeline: repro-run
stages:
  fixed:
    runner: shell
    script: |
      mkdir -p out/etc
      echo stable > out/etc/fixed.conf
    outputs:
      root: { path: out, kind: tree }
  clock:
    runner: shell
    inputs:
      base: { from: fixed.root }
    script: |
      mkdir -p out/etc out/var/db/pkg/app-misc/clock-1
      cp inputs/base/etc/fixed.conf out/etc/
      date +%s%N > out/etc/built-at
      echo "obj /etc/built-at 00000000000000000000000000000000 1700000000" > out/var/db/pkg/app-misc/clock-1/CONTENTS
    outputs:
      root: { path: out, kind: tree }
`;

interface Summary {
  status: string;
  error?: string;
  results: Record<string, { state: string; outputs?: Record<string, { digest: string }>; repro?: ReproDoc }>;
}

function lastJson(stdout: string): Summary {
  return JSON.parse(stdout.trim().split("\n").pop() ?? "") as Summary;
}

test("run --repro: reproducible and differs (by package), the cache keeps the first build, strict fails", async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "repro.yaml");
  await writeFile(file, pipeline);

  const refused = await sb.run(["run", file, "--repro", "clock,nope"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--repro: "nope" is not a stage of pipeline "repro-run"/);

  const r = await sb.run(["run", file, "--repro", "fixed", "--repro", "clock", "--json", "-q"]);
  assert.equal(r.code, 0, r.stderr);
  const s = lastJson(r.stdout);
  assert.equal(s.status, "succeeded", "a stage that is not reproducible does not fail the run");
  assert.equal(s.results["fixed"]?.repro?.state, "reproducible");
  const clock = s.results["clock"]?.repro;
  assert.equal(clock?.state, "differs");
  assert.deepEqual(clock.first.attempt, 1);
  assert.deepEqual(
    clock.second?.attempt,
    2,
    "the second build is the stage's next attempt (its own workspace and log)",
  );
  const out = clock.outputs?.[0];
  assert.deepEqual(
    out?.packages.map((p) => [p.cpvA, p.differing, p.paths]),
    [["app-misc/clock-1", 1, ["~ etc/built-at"]]],
  );
  assert.match(out.summary, /1 package differs: app-misc\/clock-1 \(1 file: content\)/);
  const first = s.results["clock"]?.outputs?.["root"]?.digest;
  assert.equal(out.a, first, "the run uses the first build");
  assert.notEqual(out.b, first);
  assert.match(
    r.stderr,
    /repro: not reproducible \(first: attempt 1 on local-1; second: attempt 2 on local-1\)/,
  );

  // The cache keeps the first build: a run without --repro is served from it, unchanged.
  const again = lastJson((await sb.run(["run", file, "--json", "-q"])).stdout);
  assert.equal(again.results["clock"]?.state, "cached");
  assert.equal(again.results["clock"]?.outputs?.["root"]?.digest, first);

  // Strict: the cached first build, checked again, fails the run, naming stage and package.
  const strict = await sb.run(["run", file, "--repro", "clock", "--repro-strict", "--json", "-q"]);
  assert.equal(strict.code, 1, strict.stderr);
  const ss = lastJson(strict.stdout);
  assert.equal(ss.status, "failed");
  assert.equal(ss.results["clock"]?.state, "cached");
  assert.equal(ss.results["clock"]?.repro?.first.cached, true);
  assert.equal(ss.error, "not reproducible (--repro-strict): stage clock differs in app-misc/clock-1");
});
