/**
 * The index a farm binhost publishes (BinhostService over a real filesystem store, real GLEP 78
 * packages) against the reference index's shape: header and package keys portage writes, their
 * value shapes and order, USE-evaluated dependencies, entries matching the packages served at
 * their PATH, Packages.gz, and stagefarm's own record kept out of the index.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { parsePackages, type PackagesIndex } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { BinhostBench, referenceIndexText } from "../helpers/binhost-harness.js";

const SHAPES: Record<string, RegExp> = {
  BUILD_ID: /^[1-9][0-9]*$/,
  BUILD_TIME: /^[0-9]+$/,
  SIZE: /^[0-9]+$/,
  MTIME: /^[0-9]+$/,
  MD5: /^[0-9a-f]{32}$/,
  SHA1: /^[0-9a-f]{40}$/,
  EAPI: /^[0-9]+$/,
  PATH: /^[^/]+\/[^/]+\/[^/]+-[1-9][0-9]*\.(gpkg\.tar|xpak)$/,
  CPV: /^[^/]+\/[^/]+$/,
  TIMESTAMP: /^[0-9]+$/,
  PACKAGES: /^[0-9]+$/,
  VERSION: /^0$/,
};

/** Keys in the order each block of `text` lists them. */
function blockKeyOrders(text: string): string[][] {
  return text
    .trimEnd()
    .split("\n\n")
    .map((b) => b.split("\n").map((l) => l.slice(0, l.indexOf(":"))));
}

void describe("binhost publication", () => {
  void test("the index has the reference index's shape, key by key, and says what is inside each package", async () => {
    await using bench = await BinhostBench.create();
    const ref = parsePackages(await referenceIndexText(), "reference Packages");
    await bench.service.configure("amd64", { header: { ARCH: "amd64" } });
    const refs = [
      await bench.gpkg(
        {
          category: "dev-libs",
          pf: "libsigc++-2.12.1-r1",
          buildId: 1,
          metadata: {
            SLOT: "2",
            IUSE: "doc test",
            USE: "abi_x86_64 amd64",
            KEYWORDS: "~alpha amd64 arm64",
            RDEPEND: ">=dev-libs/libfoo-1.0 test? ( dev-util/bar )",
            PROVIDES: "x86_64: libsigc-2.0.so.0",
            REQUIRES: "x86_64: libc.so.6 libstdc++.so.6",
            DEFINED_PHASES: "configure install",
          },
        },
        { stage: "p/world", agent: "agent-zz9" },
      ),
      await bench.gpkg({
        category: "sys-libs",
        pf: "zlib-1.3.1",
        compression: "xz",
        buildTime: 1_700_000_100,
      }),
      await bench.gpkg({ category: "app-misc", pf: "hello-2.12-r1", buildId: 3, compression: "gz" }),
    ];
    const result = await bench.service.publish("amd64", refs);
    assert.equal(result.total, 3);
    assert.deepEqual(
      result.packages.map((p) => [p.path, p.buildId, p.duplicate]),
      [
        ["dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar", 1, false],
        ["sys-libs/zlib/zlib-1.3.1-1.gpkg.tar", 1, false],
        ["app-misc/hello/hello-2.12-r1-3.gpkg.tar", 3, false],
      ],
    );
    const text = await bench.indexText("amd64");
    assert.ok(text !== undefined);
    const ours: PackagesIndex = parsePackages(text, "our Packages");

    // Header: only keys the reference header has, portage's values.
    for (const k of Object.keys(ours.header))
      assert.ok(k in ref.header, `header key ${k} is not one portage writes`);
    assert.equal(ours.header.VERSION, "0");
    assert.equal(ours.header.PACKAGES, "3");
    assert.equal(ours.header.ARCH, "amd64");
    assert.equal(ours.header.CHOST, "x86_64-pc-linux-gnu");
    assert.equal(ours.header.TIMESTAMP, String(result.timestamp));
    for (const [k, re] of Object.entries(SHAPES))
      if (k in ours.header) assert.match(ours.header[k] ?? "", re, k);

    // Packages: keys the reference uses, with the reference's value shapes, sorted by CPV.
    const refKeys = new Set(ref.packages.flatMap((p) => Object.keys(p)));
    const required = [
      "BUILD_ID",
      "BUILD_TIME",
      "CPV",
      "DEFINED_PHASES",
      "EAPI",
      "MD5",
      "PATH",
      "SHA1",
      "SIZE",
      "USE",
      "MTIME",
      "REPO",
    ];
    assert.deepEqual(
      ours.packages.map((p) => p.CPV),
      ["app-misc/hello-2.12-r1", "dev-libs/libsigc++-2.12.1-r1", "sys-libs/zlib-1.3.1"],
    );
    for (const p of ours.packages) {
      for (const k of Object.keys(p)) assert.ok(refKeys.has(k), `package key ${k} is not one portage writes`);
      for (const k of required) assert.ok(k in p, `${p.CPV ?? "?"} lacks ${k}`);
      for (const [k, re] of Object.entries(SHAPES))
        if (k in p) assert.match(p[k] ?? "", re, `${p.CPV ?? "?"} ${k}`);
      // Inherited from the header (as portage writes it): CHOST is not repeated.
      assert.equal(p.CHOST, undefined);
    }
    const sigc = ours.packages.find((p) => p.CPV === "dev-libs/libsigc++-2.12.1-r1");
    assert.equal(sigc?.SLOT, "2");
    assert.equal(sigc?.IUSE, "doc test");
    assert.equal(sigc?.KEYWORDS, "~alpha amd64 arm64");
    assert.equal(sigc?.RDEPEND, ">=dev-libs/libfoo-1.0", "USE-conditional deps evaluated (test is off)");
    assert.equal(sigc?.PROVIDES, "x86_64: libsigc-2.0.so.0");
    assert.equal(sigc?.REQUIRES, "x86_64: libc.so.6 libstdc++.so.6");
    assert.equal(sigc?.LICENSE, "GPL-2");
    assert.equal(sigc?.REPO, "gentoo");

    // Key order inside blocks: never the reverse of an order the reference shows.
    const before = new Set<string>();
    for (const keys of blockKeyOrders(await referenceIndexText()))
      keys.forEach((a, i) => keys.slice(i + 1).forEach((b) => before.add(`${a}<${b}`)));
    for (const keys of blockKeyOrders(text))
      keys.forEach((a, i) =>
        keys.slice(i + 1).forEach((b) => assert.ok(!before.has(`${b}<${a}`), `${a} written before ${b}`)),
      );
    assert.ok(text.endsWith("\n\n"), "every block ends with a blank line");

    // Each entry says what is inside the package served at its PATH.
    for (const p of ours.packages) {
      const file = await bench.objectToFile(`binhost/amd64/${p.PATH ?? ""}`);
      const info = await readBinpkg(file);
      assert.equal(String(info.buildId), p.BUILD_ID);
      assert.equal(String(info.buildTime), p.BUILD_TIME);
      assert.equal(String(info.size), p.SIZE);
      assert.equal(info.md5, p.MD5);
      assert.equal(info.sha1, p.SHA1);
      assert.equal(Math.floor((await stat(file)).size), Number(p.SIZE));
    }
    // Packages.gz is the same index.
    const gz = await bench.object("binhost/amd64/Packages.gz");
    assert.equal(gunzipSync(gz ?? Buffer.alloc(0)).toString("utf8"), text);
    // stagefarm's own record, not in Packages.
    assert.ok(!text.includes("agent-zz9") && !text.includes("p/world"));
    const shown = await bench.service.show("amd64");
    const rec = shown.entries.find((e) => e.cpv === "dev-libs/libsigc++-2.12.1-r1")?.record;
    assert.equal(rec?.stage, "p/world");
    assert.equal(rec?.agent, "agent-zz9");
    assert.equal(rec?.digest, refs[0]?.digest);
  });
});
