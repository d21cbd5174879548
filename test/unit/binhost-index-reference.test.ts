/**
 * The real reference `Packages` index (see test/fixtures/binhost/README.md) against shared/binhost:
 * parsed and rendered back byte for byte, its shape key by key, portage's key and package order,
 * and every entry being what stanzaFor makes from the package's metadata.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderPackages, splitPf, stanzaFor, withIndexDefaults } from "../../shared/binhost/index.js";
import { type StanzaSource } from "../../shared/binhost/testing.js";
import { referencePackages, referencePackagesText } from "../helpers/binhost-reference-index.js";

const REFERENCE = referencePackagesText();

void describe("the reference Packages index", () => {
  void test("parses and renders back byte for byte", () => {
    const index = referencePackages();
    assert.equal(index.packages.length, 161);
    assert.equal(renderPackages(index), REFERENCE);
    // Rendering sorts and recounts: CPVs in reverse order and a wrong PACKAGES give the same
    // bytes. (Builds of one CPV keep their given order, so they are moved as groups.)
    const byCpv = new Map<string, Array<Record<string, string>>>();
    for (const p of index.packages) byCpv.set(p.CPV ?? "", [...(byCpv.get(p.CPV ?? "") ?? []), p]);
    assert.ok(
      [...byCpv.values()].some((builds) => builds.length > 1),
      "several builds of one CPV",
    );
    const reversed = [...byCpv.values()].reverse().flat();
    assert.equal(
      renderPackages({ header: { ...index.header, PACKAGES: "3" }, packages: reversed }),
      REFERENCE,
    );
  });

  void test("header: VERSION 0, TIMESTAMP, PACKAGES and the profile keys, sorted", () => {
    const { header } = referencePackages();
    assert.equal(header.VERSION, "0");
    assert.match(header.TIMESTAMP ?? "", /^[0-9]{10}$/);
    assert.equal(header.PACKAGES, "161");
    assert.equal(header.PROFILE, "default/linux/amd64/17.1/systemd/clang/merged-usr");
    for (const key of [
      "ACCEPT_KEYWORDS",
      "ACCEPT_LICENSE",
      "ARCH",
      "CBUILD",
      "CHOST",
      "CONFIG_PROTECT",
      "FEATURES",
      "IUSE_IMPLICIT",
      "USE",
      "USE_EXPAND",
      "USE_EXPAND_IMPLICIT",
      "USE_EXPAND_UNPREFIXED",
      "USE_EXPAND_VALUES_ARCH",
    ])
      assert.ok((header[key] ?? "") !== "", `header ${key}`);
    assert.ok((header.FEATURES ?? "").split(" ").includes("binpkg-multi-instance"));
    const keys = Object.keys(header);
    assert.deepEqual(keys, [...keys].sort());
  });

  void test("every package has CPV, BUILD_ID, BUILD_TIME, PATH, SIZE, MTIME, MD5, SHA1, EAPI and REPO", () => {
    const { header, packages } = referencePackages();
    for (const p of packages) {
      const cpv = p.CPV ?? "";
      const [category = "", pf = ""] = cpv.split("/");
      const { pn } = splitPf(pf);
      assert.match(p.BUILD_ID ?? "", /^[1-9][0-9]*$/, cpv);
      assert.match(p.BUILD_TIME ?? "", /^[0-9]{10}$/, cpv);
      assert.match(
        p.PATH ?? "",
        new RegExp(`^${category}/${pn.replace(/\+/g, "\\+")}/${pf.replace(/\+/g, "\\+")}-[0-9]+\\.xpak$`),
        cpv,
      );
      assert.match(p.SIZE ?? "", /^[1-9][0-9]*$/, cpv);
      assert.match(p.MTIME ?? "", /^[0-9]{10}$/, cpv);
      assert.match(p.MD5 ?? "", /^[0-9a-f]{32}$/, cpv);
      assert.match(p.SHA1 ?? "", /^[0-9a-f]{40}$/, cpv);
      assert.match(p.EAPI ?? "", /^[5-8]$/, cpv);
      assert.equal(p.REPO, "gentoo", cpv);
      assert.ok(p.USE !== undefined, cpv);
      // Written only when they differ from the defaults / the header.
      assert.equal(p.CHOST, undefined, cpv);
      assert.notEqual(p.SLOT, "0", cpv);
      assert.ok(
        Object.values(p).every((v) => v !== ""),
        cpv,
      );
      const effective = withIndexDefaults(header, p);
      assert.equal(effective.CHOST, "x86_64-pc-linux-gnu");
      assert.ok(effective.SLOT === "0" || effective.SLOT === p.SLOT);
    }
    const providers = packages.filter((p) => (p.PROVIDES ?? "").startsWith("x86_64: "));
    assert.ok(providers.length > 0, "PROVIDES in portage's `<arch>: <sonames>` form");
  });

  void test("package keys: sorted by portage's internal names, so MTIME and REPO come last", () => {
    for (const block of REFERENCE.split("\n\n").slice(1, -1)) {
      const keys = block.split("\n").map((l) => l.slice(0, l.indexOf(":")));
      assert.deepEqual(keys.slice(-2), ["MTIME", "REPO"], block);
      const rest = keys.slice(0, -2);
      assert.deepEqual(rest, [...rest].sort(), block);
    }
  });

  void test("packages are sorted by CPV as strings; builds of one CPV stay in publication order", () => {
    const { packages } = referencePackages();
    const cpvs = packages.map((p) => p.CPV ?? "");
    assert.deepEqual(cpvs, [...cpvs].sort());
    // virtual/libelf: two builds that both say BUILD_ID 2 (files -3 and -4): portage keeps them.
    const libelf = packages.filter((p) => p.CPV === "virtual/libelf-3-r1").map((p) => [p.BUILD_ID, p.PATH]);
    assert.deepEqual(libelf, [
      ["2", "virtual/libelf/libelf-3-r1-3.xpak"],
      ["2", "virtual/libelf/libelf-3-r1-4.xpak"],
    ]);
  });

  void test("every entry is what stanzaFor makes from the package's metadata", () => {
    const { header, packages } = referencePackages();
    for (const p of packages) {
      const e = withIndexDefaults(header, p);
      const [category = "", pf = ""] = (e.CPV ?? "").split("/");
      const metadata: Record<string, string> = {
        CATEGORY: `${category}\n`,
        PF: `${pf}\n`,
        repository: e.REPO ?? "",
      };
      for (const [k, v] of Object.entries(e))
        if (!["CPV", "PATH", "SIZE", "MTIME", "MD5", "SHA1", "REPO"].includes(k)) metadata[k] = `${v}\n`;
      metadata.DESCRIPTION = "not indexed\n";
      const src: StanzaSource = {
        metadata,
        path: e.PATH ?? "",
        size: Number(e.SIZE),
        mtime: Number(e.MTIME) + 0.75,
        md5: e.MD5 ?? "",
        sha1: e.SHA1 ?? "",
      };
      const one = renderPackages({ header: { ...header }, packages: [stanzaFor(src)] });
      const expected = renderPackages({ header: { ...header }, packages: [p] });
      assert.equal(one, expected, p.CPV);
    }
  });
});
