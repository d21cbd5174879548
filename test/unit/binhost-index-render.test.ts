/**
 * Writing portage's `Packages` index (shared/binhost): renderPackages leaves out what portage
 * leaves out and refuses what portage could not read back, sortPackages keeps portage's order,
 * nextTimestamp always moves TIMESTAMP forward.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextTimestamp, parsePackages, renderPackages } from "../../shared/binhost/index.js";
import { sortPackages } from "../../shared/binhost/testing.js";
import { isError } from "../helpers/error-predicate.js";

const HEADER = { VERSION: "0", TIMESTAMP: "1700000000", CHOST: "x86_64-pc-linux-gnu" };

void describe("renderPackages", () => {
  void test("leaves out empty values, defaults and values the header carries; counts PACKAGES", () => {
    const text = renderPackages({
      header: { ...HEADER, PACKAGES: "99", URI: "" },
      packages: [
        { CPV: "b/two-1", EAPI: "0", SLOT: "0", CHOST: "x86_64-pc-linux-gnu", IUSE: "", REPO: "gentoo" },
        {
          CPV: "a/one-1",
          EAPI: "8",
          SLOT: "0/1",
          CHOST: "aarch64-unknown-linux-gnu",
          DESC: "the description",
          DEPEND: "x/y",
          DEFINED_PHASES: "install",
          MTIME: "5",
          REPO: "gentoo",
        },
      ],
    });
    assert.equal(
      text,
      [
        "CHOST: x86_64-pc-linux-gnu",
        "PACKAGES: 2",
        "TIMESTAMP: 1700000000",
        "VERSION: 0",
        "",
        "CHOST: aarch64-unknown-linux-gnu",
        "CPV: a/one-1",
        "DEFINED_PHASES: install",
        "DEPEND: x/y",
        "DESC: the description",
        "EAPI: 8",
        "SLOT: 0/1",
        "MTIME: 5",
        "REPO: gentoo",
        "",
        "CPV: b/two-1",
        "REPO: gentoo",
        "",
        "",
      ].join("\n"),
    );
    assert.equal(parsePackages(text).packages.length, 2);
  });

  void test("REPO is left out when the header names the same repository", () => {
    const text = renderPackages({
      header: { ...HEADER, REPO: "gentoo" },
      packages: [{ CPV: "a/b-1", REPO: "gentoo" }],
    });
    assert.ok(text.endsWith("\nCPV: a/b-1\n\n"), text);
  });

  void test("an index without packages is its header block", () => {
    assert.equal(
      renderPackages({ header: HEADER, packages: [] }),
      "CHOST: x86_64-pc-linux-gnu\nPACKAGES: 0\nTIMESTAMP: 1700000000\nVERSION: 0\n\n",
    );
    assert.deepEqual(parsePackages(renderPackages({ header: HEADER, packages: [] })).packages, []);
  });

  void test("refuses what portage could not read back", () => {
    const ok = { CPV: "a/b-1" };
    assert.throws(
      () => renderPackages({ header: { VERSION: "0" }, packages: [ok] }),
      isError("invalid_argument", "TIMESTAMP"),
    );
    assert.throws(
      () => renderPackages({ header: HEADER, packages: [ok, { SLOT: "1" }] }),
      isError("invalid_argument", "package 2 has no CPV"),
    );
    assert.throws(
      () => renderPackages({ header: HEADER, packages: [{ ...ok, USE: "a\nb" }] }),
      isError("invalid_argument", "USE", "line break"),
    );
    assert.throws(
      () => renderPackages({ header: { ...HEADER, "BAD KEY": "x" }, packages: [] }),
      isError("invalid_argument", "BAD KEY"),
    );
  });
});

void describe("sortPackages", () => {
  void test("by CPV in code point order, stable for equal CPVs (not by BUILD_ID)", () => {
    const pkgs = [
      { CPV: "dev-libs/libsigc++-3.4.0", BUILD_ID: "1" },
      { CPV: "app-misc/foo-1.9", BUILD_ID: "1" },
      { CPV: "dev-libs/libsigc++-2.12.1-r1", BUILD_ID: "7" },
      { CPV: "app-misc/foo-1.10", BUILD_ID: "1" },
      { CPV: "dev-libs/libsigc++-2.12.1-r1", BUILD_ID: "3" },
      { CPV: "Z/upper-1", BUILD_ID: "1" },
    ];
    assert.deepEqual(
      sortPackages(pkgs).map((p) => `${p.CPV}#${p.BUILD_ID}`),
      [
        "Z/upper-1#1",
        "app-misc/foo-1.10#1",
        "app-misc/foo-1.9#1",
        "dev-libs/libsigc++-2.12.1-r1#7",
        "dev-libs/libsigc++-2.12.1-r1#3",
        "dev-libs/libsigc++-3.4.0#1",
      ],
    );
    assert.equal(pkgs[0]?.CPV, "dev-libs/libsigc++-3.4.0", "the input is not reordered");
  });
});

void describe("nextTimestamp", () => {
  void test("is the current second, or one past the previous TIMESTAMP", () => {
    const now = new Date(1_700_000_000_500);
    assert.equal(nextTimestamp(undefined, now), "1700000000");
    assert.equal(nextTimestamp("1699999999", now), "1700000000");
    assert.equal(nextTimestamp("1700000000", now), "1700000001");
    assert.equal(nextTimestamp("1800000000", now), "1800000001");
    assert.equal(nextTimestamp("garbage", now), "1700000000");
    let ts: string | undefined;
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push(Number((ts = nextTimestamp(ts, now))));
    assert.deepEqual(seen, [1700000000, 1700000001, 1700000002, 1700000003, 1700000004]);
  });
});
