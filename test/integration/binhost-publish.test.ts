/**
 * Publishing to a farm binhost with the BinhostService over a real filesystem store and real
 * GLEP 78 packages: the index against the reference index's shape, BUILD_ID allocation and
 * rewriting, duplicates, and every kind of bad package refused with the index untouched.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { parsePackages, type PackagesIndex } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { BinhostBench, referenceIndexText } from "../helpers/binhost-harness.js";
import { flipByte, memberDataOffset, writeGpkg } from "../helpers/gpkg-writer.js";

async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<StagefarmError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return err;
  }
  assert.fail("expected the publication to be refused");
}

/** Object paths under binhost/<name>/ (to show nothing was written). */
async function objects(bench: BinhostBench, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of bench.fsStore.listObjects(`binhost/${name}/`)) out.push(o.path);
  return out;
}

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

  void test("a BUILD_ID already taken for the CPV: the next free one, rewritten inside the package", async () => {
    await using bench = await BinhostBench.create();
    const a = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 1,
      files: { "bin/sed": "one" },
    });
    const b = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 1,
      files: { "bin/sed": "two" },
    });
    const c = await bench.gpkg({
      category: "sys-apps",
      pf: "sed-4.9",
      buildId: 7,
      files: { "bin/sed": "three" },
    });
    await bench.service.publish("h", [a]);
    const r = await bench.service.publish("h", [b, c]);
    assert.deepEqual(
      r.packages.map((p) => [p.path, p.buildId, p.renumberedFrom]),
      [
        ["sys-apps/sed/sed-4.9-2.gpkg.tar", 2, 1],
        ["sys-apps/sed/sed-4.9-7.gpkg.tar", 7, undefined],
      ],
    );
    const info = await readBinpkg(await bench.objectToFile("binhost/h/sys-apps/sed/sed-4.9-2.gpkg.tar"));
    assert.equal(info.buildId, 2);
    assert.equal(info.metadata.BUILD_ID, "2");
    assert.equal(info.basename, "sed-4.9-2");
    const index = parsePackages((await bench.indexText("h")) ?? "");
    const entry = index.packages.find((p) => p.PATH === "sys-apps/sed/sed-4.9-2.gpkg.tar");
    assert.equal(entry?.BUILD_ID, "2");
    assert.equal(entry?.MD5, info.md5);
    assert.equal(entry?.SIZE, String(info.size));
    const rec = (await bench.service.show("h")).entries.find((e) => e.buildId === 2)?.record;
    assert.equal(rec?.renumberedFrom, 1);
    assert.equal(rec?.digest, b.digest);
    assert.equal(rec?.sha256, info.sha256);
    // A package without a BUILD_ID gets one too.
    const d = await bench.gpkg({ category: "sys-apps", pf: "sed-4.9", files: { "bin/sed": "four" } });
    const rd = await bench.service.publish("h", [d]);
    assert.deepEqual([rd.packages[0]?.buildId, rd.packages[0]?.renumberedFrom], [8, 0]);
    assert.equal(
      (await readBinpkg(await bench.objectToFile("binhost/h/sys-apps/sed/sed-4.9-8.gpkg.tar"))).buildId,
      8,
    );
  });

  void test("a duplicate upload is a no-op reported with the path that has it; the index is not rewritten", async () => {
    await using bench = await BinhostBench.create();
    const a = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 1 });
    const b = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 1, files: { x: "other" } });
    await bench.service.publish("h", [a, b]);
    const before = await bench.indexText("h");
    // Again: the original upload, and the renumbered package's bytes as a client fetched them.
    const served = await bench.upload(
      await bench.objectToFile("binhost/h/sys-apps/grep/grep-3.11-2.gpkg.tar"),
    );
    const r = await bench.service.publish("h", [a, served, a]);
    assert.deepEqual(
      r.packages.map((p) => [p.path, p.duplicate]),
      [
        ["sys-apps/grep/grep-3.11-1.gpkg.tar", true],
        ["sys-apps/grep/grep-3.11-2.gpkg.tar", true],
        ["sys-apps/grep/grep-3.11-1.gpkg.tar", true],
      ],
    );
    assert.equal(await bench.indexText("h"), before, "nothing written");
    assert.equal(r.total, 2);
    // A new package and a duplicate of it in one request: published once.
    const c = await bench.gpkg({ category: "sys-apps", pf: "grep-3.11", buildId: 5, files: { x: "third" } });
    const rc = await bench.service.publish("h", [c, c]);
    assert.deepEqual(
      rc.packages.map((p) => [p.path, p.duplicate]),
      [
        ["sys-apps/grep/grep-3.11-5.gpkg.tar", false],
        ["sys-apps/grep/grep-3.11-5.gpkg.tar", true],
      ],
    );
    assert.equal(rc.total, 3);
  });

  void test("a Manifest that does not match (wrong size, wrong hash) is refused, the index untouched", async () => {
    await using bench = await BinhostBench.create();
    await bench.service.publish("h", [await bench.gpkg({ category: "app-misc", pf: "ok-1", buildId: 1 })]);
    const before = await bench.indexText("h");
    const objs = await objects(bench, "h");

    const wrongSize = await bench.gpkg({
      category: "app-misc",
      pf: "bad-1",
      buildId: 1,
      manifest: (t) =>
        t.replace(/^(DATA image\.tar\.zst) (\d+)/m, (_m, a: string, n: string) => `${a} ${Number(n) + 1}`),
    });
    const e1 = await refused(
      bench.service.publish("h", [wrongSize]),
      "corrupt_artifact",
      /binhost "h": package sha256:[0-9a-f]{12}/,
    );
    assert.match(e1.message, /image\.tar\.zst/);

    const flipped = await writeGpkg(bench.pkgDir(), { category: "app-misc", pf: "bad-2", buildId: 1 });
    const { offset } = await memberDataOffset(flipped, "image.tar.zst");
    await flipByte(flipped, offset + 10);
    await refused(
      bench.service.publish("h", [await bench.upload(flipped)]),
      "corrupt_artifact",
      /image\.tar\.zst/,
    );

    assert.equal(await bench.indexText("h"), before);
    assert.deepEqual(await objects(bench, "h"), objs);
  });

  void test("truncated, not a binary package, no CATEGORY, no PF: refused with a clear error, the index untouched", async () => {
    await using bench = await BinhostBench.create();
    await bench.service.publish("h", [await bench.gpkg({ category: "app-misc", pf: "ok-1", buildId: 1 })]);
    const before = await bench.indexText("h");
    const objs = await objects(bench, "h");

    // Cut inside the last member (the tar's zero padding alone would still be a whole package).
    const whole = (await bench.gpkg({ category: "app-misc", pf: "cut-1", buildId: 1 })).file;
    const { offset } = await memberDataOffset(whole, "Manifest");
    const cut = await readFile(whole);
    await refused(
      bench.service.publish("h", [await bench.uploadBytes(cut.subarray(0, offset + 20))]),
      "corrupt_artifact",
      /refused/,
    );

    await refused(
      bench.service.publish("h", [
        await bench.uploadBytes(Buffer.from("this is not a package\n".repeat(100))),
      ]),
      "corrupt_artifact",
      /binhost "h": package sha256:/,
    );
    const noCat = await bench.gpkg({
      category: "app-misc",
      pf: "nocat-1",
      buildId: 1,
      omitKeys: ["CATEGORY"],
    });
    await refused(bench.service.publish("h", [noCat]), "invalid_argument", /CATEGORY/);
    const noPf = await bench.gpkg({ category: "app-misc", pf: "nopf-1", buildId: 1, omitKeys: ["PF"] });
    await refused(bench.service.publish("h", [noPf]), "invalid_argument", /PF/);
    const noSlot = await bench.gpkg({ category: "app-misc", pf: "noslot-1", buildId: 1, omitKeys: ["SLOT"] });
    await refused(bench.service.publish("h", [noSlot]), "invalid_argument", /SLOT/);

    // All or nothing: a good package next to a bad one is not published either.
    const good = await bench.gpkg({ category: "app-misc", pf: "good-1", buildId: 1 });
    await refused(bench.service.publish("h", [good, noCat]), "invalid_argument", /CATEGORY/);
    // Not uploaded at all.
    await refused(
      bench.service.publish("h", [{ digest: "0".repeat(64), size: 1, stage: "p/s" }]),
      "not_found",
      /not in the store.*|from stage p\/s/,
    );

    assert.equal(await bench.indexText("h"), before);
    assert.deepEqual(await objects(bench, "h"), objs);
  });

  void test("packages that cannot be renumbered: a legacy xpak and a signed gpkg whose BUILD_ID is taken", async () => {
    await using bench = await BinhostBench.create();
    const x1 = await bench.xpak({ category: "app-misc", pf: "old-1", buildId: 1 });
    const r = await bench.service.publish("h", [x1]);
    assert.equal(r.packages[0]?.path, "app-misc/old/old-1-1.xpak");
    const x2 = await bench.xpak({ category: "app-misc", pf: "old-1", buildId: 1, files: { a: "b" } });
    await refused(
      bench.service.publish("h", [x2]),
      "invalid_argument",
      /legacy xpak package cannot be rewritten/,
    );
    const s1 = await bench.gpkg({ category: "app-misc", pf: "signed-1", buildId: 1, signed: true });
    await bench.service.publish("h", [s1]);
    const s2 = await bench.gpkg({
      category: "app-misc",
      pf: "signed-1",
      buildId: 1,
      signed: true,
      files: { a: "c" },
    });
    await refused(bench.service.publish("h", [s2]), "invalid_argument", /signed/);
    assert.equal(parsePackages((await bench.indexText("h")) ?? "").packages.length, 2);
  });

  void test("rm by PATH or by CPV: out of the index first, then the objects; an unknown one is not_found", async () => {
    await using bench = await BinhostBench.create();
    const pkgs = [
      await bench.gpkg({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 1 }),
      await bench.gpkg({ category: "dev-libs", pf: "libsigc++-2.12.1", buildId: 2, files: { a: "2" } }),
      await bench.gpkg({ category: "dev-libs", pf: "expat-2.6.2", buildId: 1 }),
    ];
    const first = await bench.service.publish("h", pkgs);
    const r1 = await bench.service.remove("h", "dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar");
    assert.deepEqual(r1.removed, ["dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar"]);
    assert.ok(r1.timestamp > first.timestamp);
    assert.equal(await bench.object("binhost/h/dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar"), undefined);
    const r2 = await bench.service.remove("h", "dev-libs/expat-2.6.2");
    assert.deepEqual(r2.removed, ["dev-libs/expat/expat-2.6.2-1.gpkg.tar"]);
    const index = parsePackages((await bench.indexText("h")) ?? "");
    assert.deepEqual(
      index.packages.map((p) => p.PATH),
      ["dev-libs/libsigc++/libsigc++-2.12.1-2.gpkg.tar"],
    );
    assert.equal(index.header.PACKAGES, "1");
    await refused(
      bench.service.remove("h", "dev-libs/nothing-1"),
      "not_found",
      /no package with PATH or CPV/,
    );
    await refused(bench.service.remove("nope", "x/y-1"), "not_found", /no binhost "nope"/);
    // The record of a removed package is gone as well; publishing its bytes again works.
    const expat = pkgs[2];
    assert.ok(expat !== undefined);
    const again = await bench.service.publish("h", [expat]);
    assert.equal(again.packages[0]?.duplicate, false);
  });

  void test("binreposConf: the stanza from the settings; an absent binhost is created empty", async () => {
    await using bench = await BinhostBench.create();
    const conf = await bench.service.binreposConf("farm-amd64", "http://farm.example:9464/");
    assert.equal(
      conf,
      "[farm-amd64]\npriority = 9999\nsync-uri = http://farm.example:9464/binhost/farm-amd64\nverify-signature = false\n",
    );
    const index = parsePackages((await bench.indexText("farm-amd64")) ?? "");
    assert.equal(index.header.PACKAGES, "0");
    await bench.service.configure("farm-amd64", {
      priority: 10,
      verifySignature: true,
      location: "/var/cache/farm",
    });
    assert.equal(
      await bench.service.binreposConf("farm-amd64", "https://farm.example/sf"),
      "[farm-amd64]\npriority = 10\nsync-uri = https://farm.example/sf/binhost/farm-amd64\nverify-signature = true\nlocation = /var/cache/farm\n",
    );
    await refused(bench.service.binreposConf("farm-amd64", "ftp://x"), "invalid_argument", /http/);
    await refused(bench.service.binreposConf("Bad Name", "http://x"), "invalid_argument", /binhost name/);
    await refused(
      bench.service.configure("farm-amd64", { header: { TIMESTAMP: "1" } }),
      "invalid_argument",
      /TIMESTAMP/,
    );
  });
});
