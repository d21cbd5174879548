/**
 * The dashboard's list of offered pipelines (coordinator/dashboard/pipeline-list.ts) over a
 * real directory: names from `NAME.yaml` and `NAME/pipeline.yaml`, each param with required,
 * default and description; a file that does not parse listed with its error (naming the file
 * within the directory, not the server's path); what is not a pipeline of the directory (a
 * symlink out of it, an empty directory, a name that is not one) left out; a parse kept until
 * the file changes.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PipelineList } from "../../coordinator/testing.js";
import { NamedPipelines } from "../../coordinator/index.js";
import { parsePipeline } from "../../shared/pipeline/index.js";

const WEEKLY = `pipeline: weekly-release
description: The weekly stage3 build
params:
  arch:
    default: amd64
    description: The target architecture
  snapshot:
    required: true
    description: The portage snapshot id
  plain: "x"
stages:
  s:
    runner: shell
    env: { A: "\${{ params.arch }}", S: "\${{ params.snapshot }}", P: "\${{ params.plain }}" }
    script: echo "$A $S $P"
`;

test("the offered pipelines with their params, as the dashboard's JSON", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sf-pipelines-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "weekly.yaml"), WEEKLY);
  await mkdir(join(dir, "tiny"));
  await writeFile(join(dir, "tiny/pipeline.yaml"), "stages:\n  s: { runner: shell, script: 'true' }\n");
  await writeFile(join(dir, "broken.yaml"), "pipeline: broken\nstages:\n  s: { runner: nope }\n");
  await writeFile(join(dir, "notes.txt"), "not a pipeline\n");
  await writeFile(join(dir, "bad name.yaml"), WEEKLY);
  await mkdir(join(dir, "empty"));
  await mkdir(join(dir, "dir.yaml"));
  await symlink("/etc/passwd", join(dir, "escape.yaml"));

  let parses = 0;
  const list = new PipelineList(await NamedPipelines.open(dir, 1 << 20), (yaml, path) => {
    parses++;
    return Promise.resolve(parsePipeline(yaml, path));
  });
  const got = await list.get();
  assert.equal(got.offered, true);
  assert.deepEqual(
    got.pipelines.map((p) => p.name),
    ["broken", "tiny", "weekly"],
  );
  const [broken, tiny, weekly] = got.pipelines;
  assert.deepEqual(weekly, {
    name: "weekly",
    pipeline: "weekly-release",
    description: "The weekly stage3 build",
    params: [
      { name: "arch", required: false, default: "amd64", description: "The target architecture" },
      { name: "snapshot", required: true, description: "The portage snapshot id" },
      { name: "plain", required: false, default: "x" },
    ],
  });
  assert.deepEqual(tiny, { name: "tiny", pipeline: "tiny", params: [] });
  assert.equal(broken?.params.length, 0);
  assert.match(broken?.error ?? "", /^broken\.yaml:3:\d+: error: .*nope/m);
  assert.ok(!JSON.stringify(got).includes(dir), "the server's directory stays unnamed");
  assert.ok(!JSON.stringify(got).includes("root:"), "nothing of a file outside the directory");
  assert.equal(parses, 3);

  // Unchanged files are not parsed again; a changed one is, and a removed one leaves the list.
  await writeFile(
    join(dir, "tiny/pipeline.yaml"),
    "params: { n: '1' }\nstages:\n  s: { runner: shell, script: 'true' }\n",
  );
  await rm(join(dir, "broken.yaml"));
  const again = await list.get();
  assert.equal(parses, 4);
  assert.deepEqual(
    again.pipelines.map((p) => [p.name, p.params.map((x) => x.name)]),
    [
      ["tiny", ["n"]],
      ["weekly", ["arch", "snapshot", "plain"]],
    ],
  );
});

test("without a pipelines directory nothing is offered", async () => {
  const list = new PipelineList(undefined, () => Promise.reject(new Error("never parsed")));
  assert.deepEqual(await list.get(), { offered: false, pipelines: [] });
});
