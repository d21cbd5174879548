/**
 * Values that become path components under the catalyst runner's storedir (repo_name, spec
 * overrides such as source_subpath and version_stamp, tree-ish…) are refused when they could
 * leave it: at validate (with a position), after params are applied, and when the stage runs
 * (the runner refuses before placing anything; placement itself checks again).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { placeSeed, placeSnapshot } from "../../agent/runners/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { CatalystBench, SPECS, TIMESTAMP, TREEISH, catalystStage } from "../helpers/catalyst-bench.js";
import { FILE, assertOneError } from "../helpers/pipeline-assert.js";

function pipeline(extra: string, params = ""): string {
  return (
    `${params}stages:\n  s1:\n    runner: catalyst\n    with:\n      spec: ${SPECS}/stage1-systemd-23.spec\n` +
    `      snapshot: snapshot/gentoo.sqfs\n      treeish: ${TREEISH}\n      timestamp: ${TIMESTAMP}\n${extra}`
  );
}

/** Every file name under `dir`, recursively. */
async function allNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    out.push(e.name);
    if (e.isDirectory()) out.push(...(await allNames(join(dir, e.name))));
  }
  return out;
}

void describe("catalyst path components: validate", () => {
  void test("catalyst_conf.repo_name ../x is refused at its position", () => {
    const text = pipeline("      catalyst_conf:\n        repo_name: ../x\n");
    assertOneError(
      text,
      "../x",
      'with.catalyst_conf.repo_name: repo_name becomes part of the snapshot\'s file name: "../x" must be one name',
    );
  });

  void test("spec overrides that become paths are refused: names and subpaths", () => {
    for (const [key, value, why] of [
      [
        "source_subpath",
        "../../../etc/x",
        'source_subpath becomes part of a file path: "../../../etc/x" must be a relative path of names',
      ],
      [
        "rel_type",
        "/abs",
        'rel_type becomes part of a file path: "/abs" must be a relative path, not absolute',
      ],
      ["version_stamp", "..", 'version_stamp becomes part of a file path: ".." is not a name'],
      ["target", "a/b", 'target becomes part of a file path: "a/b" must be one name, without "/"'],
    ] as const)
      assertOneError(
        pipeline(`      overrides:\n        ${key}: "${value}"\n`),
        `"${value}"`,
        `with.overrides.${key}: ${why}`,
      );
  });

  void test("ordinary values pass", () => {
    const text = pipeline(
      "      catalyst_conf:\n        repo_name: gentoo\n      overrides:\n        source_subpath: 23.0-default/stage3-amd64-systemd-latest\n        version_stamp: systemd-20250612\n",
    );
    assert.doesNotThrow(() => parsePipeline(text, FILE));
  });

  void test("a param that supplies ../x is refused when it is applied", () => {
    const text = pipeline(
      '      catalyst_conf:\n        repo_name: "${{ params.repo }}"\n',
      "params:\n  repo: { default: gentoo }\n",
    );
    const spec = parsePipeline(text, FILE);
    assert.doesNotThrow(() => resolvePipeline(spec, {}));
    assert.throws(
      () => resolvePipeline(spec, { repo: "../x" }),
      (err: unknown) =>
        err instanceof StagefarmError &&
        /after params were applied: with\.catalyst_conf\.repo_name: .*"\.\.\/x" must be one name/.test(
          err.message,
        ),
    );
  });
});

void describe("catalyst path components: at run", () => {
  let bench: CatalystBench;
  before(async () => {
    bench = await CatalystBench.create();
  });
  after(async () => {
    await bench.close();
  });

  void test("repo_name ../… is refused by the runner before the snapshot is placed", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      catalyst_conf: { repo_name: "../../../../escaped" },
    });
    const { e } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(e.message, /with\.catalyst_conf\.repo_name: .*must be one name/);
    assert.ok(
      !(await allNames(bench.dir)).some((n) => n.startsWith("escaped")),
      "no snapshot linked anywhere",
    );
  });

  void test("an override source_subpath ../… is refused by the runner", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "../../../../escaped" },
    });
    const { e } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(e.message, /with\.overrides\.source_subpath: .*must be a relative path of names/);
    assert.ok(!(await allNames(bench.dir)).some((n) => n.startsWith("escaped")));
  });

  void test("placement refuses a name or subpath that would leave storedir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-place-"));
    try {
      const storedir = join(dir, "a", "b", "store");
      await mkdir(storedir, { recursive: true });
      const file = join(dir, "snap.sqfs");
      await writeFile(file, "hsqs");
      await assert.rejects(
        placeSnapshot({ snapshot: file, storedir, name: "../../x.sqfs" }),
        (err: unknown) => err instanceof StagefarmError && err.code === "invalid_pipeline",
      );
      await assert.rejects(
        placeSeed({ seed: file, storedir, sourceSubpath: "../../x", stage: "s" }),
        (err: unknown) => err instanceof StagefarmError && err.code === "invalid_pipeline",
      );
      assert.deepEqual(await readdir(storedir), []);
      assert.deepEqual((await readdir(dir)).sort(), ["a", "snap.sqfs"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
