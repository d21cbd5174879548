/**
 * `stagefarm agent` checks the host tools its labels promise (agent/prerequisites.ts): one line
 * per missing tool naming the package, the label dropped by default, refused or kept on request.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labelsWithTools } from "../../agent/index.js";
import { checkPrerequisites, LABEL_TOOLS } from "../../agent/testing.js";
import { StagefarmError } from "../../shared/errors.js";

async function pathWith(
  tools: readonly string[],
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "sf-prereq-"));
  for (const t of tools) {
    await writeFile(join(dir, t), "#!/bin/sh\n");
    await chmod(join(dir, t), 0o755);
  }
  // A file that is there but not executable does not count.
  await writeFile(join(dir, "xorriso"), "not executable\n");
  return { path: dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

const CATALYST_TOOLS = (LABEL_TOOLS["catalyst"] ?? []).map((t) => t.tool);

void describe("agent prerequisites", () => {
  void test("every catalyst tool present: the label stays", async () => {
    await using p = await pathWith(CATALYST_TOOLS);
    const r = await checkPrerequisites(["x86_64", "catalyst"], p.path);
    assert.deepEqual(r.labels, ["x86_64", "catalyst"]);
    assert.deepEqual(r.lines, []);
  });

  void test("a missing tool is one line with its package, and drops the label", async () => {
    await using p = await pathWith(CATALYST_TOOLS.filter((t) => t !== "catalyst" && t !== "xorriso"));
    const r = await checkPrerequisites(["x86_64", "catalyst"], p.path);
    assert.deepEqual(r.labels, ["x86_64"]);
    assert.deepEqual(r.dropped, ["catalyst"]);
    assert.deepEqual(
      r.missing.map((m) => m.tool),
      ["catalyst", "xorriso"],
    );
    assert.match(
      r.lines[0] ?? "",
      /^missing: catalyst \(label catalyst: the catalyst runner\) — install dev-util\/catalyst \(~amd64/,
    );
    assert.match(r.lines[1] ?? "", /^missing: xorriso .* install dev-libs\/libisoburn \(Debian: xorriso\)$/);
    assert.match(r.lines[2] ?? "", /^label catalyst dropped/);
  });

  void test("refuse throws naming the tools; warn keeps the label", async () => {
    await using p = await pathWith([]);
    await assert.rejects(
      labelsWithTools(["chroot"], "refuse", p.path),
      (err: unknown) =>
        err instanceof StagefarmError &&
        err.code === "invalid_argument" &&
        /missing: unshare/.test(err.message) &&
        /--missing-tools drop/.test(err.message),
    );
    const warn = await labelsWithTools(["chroot"], "warn", p.path);
    assert.deepEqual(warn.labels, ["chroot"]);
    assert.ok(warn.lines.every((l) => l.startsWith("missing: ")) && warn.lines.length > 0);
    const drop = await labelsWithTools(["chroot", "x86_64"], "drop", p.path);
    assert.deepEqual(drop.labels, ["x86_64"]);
    await assert.rejects(
      labelsWithTools([], "maybe", p.path),
      /--missing-tools must be one of drop, refuse, warn/,
    );
  });
});
