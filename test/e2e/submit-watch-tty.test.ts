/**
 * `submit --watch` on a terminal (a pseudo-TTY from util-linux `script`) against a farm of real
 * processes: the live status area shows the running stage with elapsed / expected and an ETA,
 * and the watch ends with a summary for people, not JSON.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { withFarm } from "../helpers/farm-processes.js";
import { cliOnTty } from "../helpers/tty.js";

test("submit --watch on a terminal: status area with elapsed / expected and ETA, a human summary", async () => {
  await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
    const file = join(farm.dir, "watch.yaml");
    await writeFile(
      file,
      `pipeline: watch-eta
stages:
  slow:
    runner: shell
    estimate: 1m
    script: sleep 3 && mkdir -p out && echo s > out/s
    outputs: { s: out/s }
  last:
    runner: shell
    estimate: 30s
    inputs: { s: { from: slow.s, unpack: false } }
    script: mkdir -p out && cp inputs/s out/l
    outputs: { l: out/l }
`,
    );
    const r = await cliOnTty(farm.cliEnv(), ["submit", file, "--watch"], 120_000);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^ {2}slow {2}[1-4]\.\ds \/ ~1m00s$/m);
    assert.match(r.stdout, /^0 of 2 stages · 1 running · ETA ~1m2\ds$/m);
    const end = r.stdout.slice(r.stdout.lastIndexOf(">>> watch-eta: succeeded"));
    assert.match(
      end,
      /^>>> watch-eta: succeeded in [\d.hms]+ — 2 executed, 0 cached, 0 failed, 0 skipped\n$/,
    );
    assert.doesNotMatch(r.stdout, /[{}"]executed/, "no JSON");
  });
});
