/**
 * A poisoned cache entry (issue 13 item 17): the blob a cached output names is corrupted on
 * disk (same size, other bytes), in the embedded farm's filesystem store and in the S3 store of
 * a distributed farm (s3rver's object file). The next run that needs it finds the damage when
 * the consumer verifies the download, drops the entry, rebuilds the producer in the same run and
 * succeeds; the run after is served from the cache again. Also `stagefarm cache rm`.
 */
import assert from "node:assert/strict";
import { chmod, open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";
import { withFarm, type RunSummary } from "../helpers/farm-processes.js";

/** `a` packs a tree of random bytes (every build differs); `b` reads it. `version` changes only b. */
const pipeline = (version: string): string => `pipeline: poison
stages:
  a:
    runner: shell
    script: mkdir -p out/t && head -c 200000 /dev/urandom > out/t/data && echo a > out/t/name
    outputs: { tree: out/t }
  b:
    runner: shell
    inputs: { t: { from: a.tree } }
    script: mkdir -p out && cat inputs/t/name > out/b && echo ${version} >> out/b
    outputs: { b: out/b }
`;

/** Overwrites one byte in the middle of `file` (size unchanged: only verification can tell). */
async function flipByte(file: string): Promise<void> {
  await chmod(file, 0o644);
  const fh = await open(file, "r+");
  try {
    const { size } = await fh.stat();
    const at = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** The file below `dir` whose name starts with `name` (s3rver adds a suffix to object files). */
async function findFile(dir: string, name: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true });
  const hit = entries.find((e) => e.split("/").pop()?.startsWith(`${name}._S3rver_object`) === true);
  assert.ok(hit !== undefined, `no object file for ${name} below ${dir}`);
  return join(dir, hit);
}

type Summary = Pick<RunSummary, "status" | "stages" | "results">;

const treeDigest = (s: Summary): string => {
  const d = s.results["a"]?.outputs["tree"]?.digest;
  assert.ok(d !== undefined, "a's tree output");
  return d;
};

describe("a poisoned cache entry is dropped and rebuilt", () => {
  test("embedded farm: a corrupt blob in the fs store; then `cache rm`", async () => {
    await using sb = await CliSandbox.create();
    let stderr = "";
    const run = async (version: string): Promise<Summary> => {
      const file = join(sb.dir, `p-${version}.yaml`);
      await writeFile(file, pipeline(version));
      const r = await sb.run(["run", file, "--json"]);
      assert.equal(r.code, 0, `run ${version}:\n${r.stderr}`);
      stderr = r.stderr;
      return lastJsonLine(r.stdout) as unknown as Summary;
    };
    const first = await run("v1");
    assert.equal(first.stages.executed, 2);
    const poisoned = treeDigest(first);
    await flipByte(join(sb.dir, "store", "cas", "sha256", poisoned.slice(0, 2), poisoned));

    const second = await run("v2");
    assert.equal(second.status, "succeeded", "the run that met the corrupt blob heals itself");
    assert.equal(second.results["a"]?.state, "done", "a was rebuilt, not served from the poisoned entry");
    assert.notEqual(treeDigest(second), poisoned);
    assert.match(stderr, /rebuilding its producer and running the stage again/);
    assert.match(stderr, />>> Done +b \(2 of 2\)/, "progress counts each stage once");
    const third = await run("v2");
    assert.deepEqual([third.stages.executed, third.stages.cached], [0, 2], "then all cached again");

    // cache rm: by unique prefix, --json; every key is resolved before anything is removed.
    const bKey = third.results["b"]?.key ?? "";
    const typo = await sb.run(["cache", "rm", bKey.slice(0, 12), "ffff0000"]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /no cache entry with key ffff0000/);
    const listed = (await sb.run(["cache", "ls", "--json"])).stdout.trim().split("\n");
    assert.equal(listed.filter((l) => l.includes(bKey)).length, 1, "a typo removes nothing");
    const rm = await sb.run(["cache", "rm", bKey.slice(0, 12), "--json"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(JSON.parse(rm.stdout), { removed: [{ key: bKey, pipeline: "poison", stage: "b" }] });
    const after = (await sb.run(["cache", "ls", "--json"])).stdout;
    assert.ok(!after.includes(bKey), "the entry is gone");
    assert.ok(after.includes(third.results["a"]?.key ?? "-"), "the other entry stays");
    const fourth = await run("v2");
    assert.deepEqual(
      [fourth.results["a"]?.state, fourth.results["b"]?.state],
      ["cached", "done"],
      "only the removed entry's stage runs again",
    );
    const human = await sb.run(["cache", "rm", fourth.results["b"]?.key ?? ""]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /^removed cache entry [0-9a-f]{12} \(poison\/b\)\nremoved 1 entry; run `stagefarm cache gc`/,
    );
  });

  test("distributed farm: a corrupt blob in S3, met by a real agent", async () => {
    await withFarm({ agents: [{ id: "p1" }] }, async (farm) => {
      const submit = async (version: string): Promise<Summary> =>
        await farm.cliJson<RunSummary>([
          "submit",
          await farm.writePipeline(`p-${version}.yaml`, pipeline(version)),
          "--watch",
          "--json",
        ]);
      const first = await submit("v1");
      assert.equal(first.status, "succeeded");
      const poisoned = treeDigest(first);
      await flipByte(await findFile(farm.s3.dir, poisoned));

      const second = await submit("v2");
      assert.equal(second.status, "succeeded", "the run that met the corrupt blob heals itself");
      assert.equal(second.results["a"]?.state, "done", "a was rebuilt");
      assert.notEqual(treeDigest(second), poisoned);
      const third = await submit("v2");
      assert.deepEqual([third.stages.executed, third.stages.cached], [0, 2], "then all cached again");
    });
  });
});
