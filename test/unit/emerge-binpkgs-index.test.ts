/** Reading portage's Packages index leniently (the real reference one) and package paths. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { cpvFromPath, isBinpkgFile, parsePackagesIndex } from "../../agent/runners/binpkgs/testing.js";
import { parsePackages, splitPackagesBlocks } from "../../shared/binhost/index.js";

/** The real reference index, copied verbatim into the fixtures (see its README). */
const REFERENCE = fileURLToPath(new URL("../../../test/fixtures/binhost/Packages", import.meta.url));

void describe("Packages index", () => {
  void test("the reference index: 161 package blocks, exact text, PATH as the key", async () => {
    const text = await readFile(REFERENCE, "utf8");
    const blocks = parsePackagesIndex(text);
    assert.equal(blocks.length, 161);
    const first = blocks[0];
    assert.deepEqual(first?.paths, ["acct-group/adm/adm-0-r2-1.xpak"]);
    assert.ok(first?.text.startsWith("BUILD_ID: 1\nBUILD_TIME: 1689961396\nCPV: acct-group/adm-0-r2\n"));
    assert.ok(first?.text.endsWith("MTIME: 1689961408\nREPO: gentoo\n"));
    // Every block's text is a verbatim slice of the file.
    for (const b of blocks) assert.ok(text.includes(b.text), b.paths[0]);
    assert.ok(!blocks.some((b) => b.text.includes("VERSION: 0")), "the header is not a package");
  });

  void test("without PATH a block stands for both default file names of its CPV", () => {
    const blocks = parsePackagesIndex("VERSION: 0\nPACKAGES: 1\n\n\nCPV: sys-apps/sed-4.9\nSIZE: 3\n\n");
    assert.deepEqual(blocks, [
      {
        text: "CPV: sys-apps/sed-4.9\nSIZE: 3\n",
        paths: ["sys-apps/sed-4.9.tbz2", "sys-apps/sed-4.9.gpkg.tar"],
      },
    ]);
  });

  void test("the blocks are the ones the strict parser reads, in the same order", async () => {
    const text = await readFile(REFERENCE, "utf8");
    const strict = parsePackages(text);
    assert.deepEqual(
      parsePackagesIndex(text).map((b) => b.paths[0]),
      strict.packages.map((p) => p.PATH),
    );
  });

  void test("splitting: blocks with their first line; only an empty line ends a block", () => {
    assert.deepEqual(splitPackagesBlocks("VERSION: 0\n\nCPV: a/b-1\n \nSIZE: 1\n\n\nCPV: a/c-1"), [
      { line: 1, lines: ["VERSION: 0"] },
      { line: 3, lines: ["CPV: a/b-1", " ", "SIZE: 1"] },
      { line: 8, lines: ["CPV: a/c-1"] },
    ]);
    assert.deepEqual(splitPackagesBlocks(""), []);
    assert.deepEqual(parsePackagesIndex("CPV: a/b-1\n \nPATH: a/b/b-1-1.gpkg.tar\n"), [
      { text: "CPV: a/b-1\n \nPATH: a/b/b-1-1.gpkg.tar\n", paths: ["a/b/b-1-1.gpkg.tar"] },
    ]);
  });

  void test("package paths: both layouts, gpkg and xpak", () => {
    assert.deepEqual(cpvFromPath("sys-devel/gcc/gcc-13.2.0-r1-3.gpkg.tar"), {
      cpv: "sys-devel/gcc-13.2.0-r1",
      buildId: "3",
    });
    assert.deepEqual(cpvFromPath("dev-libs/libsigc++/libsigc++-2.12.1-1.xpak"), {
      cpv: "dev-libs/libsigc++-2.12.1",
      buildId: "1",
    });
    assert.deepEqual(cpvFromPath("sys-apps/sed-4.9.tbz2"), { cpv: "sys-apps/sed-4.9" });
    assert.deepEqual(cpvFromPath("Packages"), {});
    assert.ok(isBinpkgFile("a/b/b-1-1.gpkg.tar"));
    assert.ok(isBinpkgFile("a/b-1.tbz2"));
    assert.ok(!isBinpkgFile("Packages"));
    assert.ok(!isBinpkgFile("a/b/b-1-1.gpkg.tar.partial"));
  });
});
