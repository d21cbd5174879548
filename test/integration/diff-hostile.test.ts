/**
 * `stagefarm diff` reads archives it does not unpack, but a tree the farm would refuse to
 * unpack is refused here too: the hostile-archive corpus (test/helpers/hostile-archive-corpus.ts)
 * through the diff's reader, an archive with more entries than --max-entries, and the CLI's
 * exit status 2 with the reason on stderr.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { indexSource } from "../../shared/diff/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { CliSandbox } from "../helpers/cli.js";
import { assertRefusal, corpus } from "../helpers/hostile-archive-corpus.js";
import { regular, writeTar } from "../helpers/tar-fixtures.js";

let scratch = "";

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "sf-diff-hostile-"));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/**
 * Refusals about writing, not reading: the diff reads device nodes (a stage root may hold
 * them) and a path that fits PATH_MAX only below a short destination (it writes nowhere).
 */
const EXTRACTION_ONLY = new Set([
  "character device node",
  "block device node",
  "path too long to extract below the destination",
]);

test("every hostile archive of the corpus is refused by the diff's reader", async () => {
  const sentinel = join(scratch, "sentinel");
  const build = join(scratch, "build");
  await mkdir(sentinel);
  await mkdir(build);
  const cases = (await corpus(sentinel, build)).filter((c) => !EXTRACTION_ONLY.has(c.name));
  assert.ok(cases.length > 20, `corpus has ${cases.length} cases`);
  for (const [i, c] of cases.entries()) {
    const file = join(scratch, `case-${i}.tar`);
    await writeFile(file, c.bytes);
    const err = await indexSource({ t: "archive", file, label: `archive ${file}` }, {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err !== undefined, `${c.name}: the diff read it`);
    assertRefusal(err, c, "diff");
  }
});

test("an archive with more entries than --max-entries is refused before it fills memory", async () => {
  const file = join(scratch, "many.tar");
  await writeTar(
    file,
    Array.from({ length: 50 }, (_, i) => regular(`f${i}`, "")),
  );
  const err = await indexSource({ t: "archive", file, label: "many" }, { maxEntries: 10 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof StagefarmError && err.code === "unsafe_archive", String(err));
  assert.match(err.message, /more than 10 entries/);

  await using cli = await CliSandbox.create();
  const r = await cli.run(["diff", "--max-entries", "10", file, file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^stagefarm: error: .*more than 10 entries, the limit \(--max-entries\)/);
  const traversal = join(scratch, "traversal.tar");
  await writeTar(traversal, [regular("../escape", "x")]);
  const t = await cli.run(["diff", traversal, file]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /entry "\.\.\/escape": its path has a "\.\." component/);
  assert.equal(t.stdout, "");
});
