/**
 * Package names and paths in a binhost (shared/binhost): splitPf against portage's catpkgsplit,
 * packagePath as the binpkg-multi-instance layout, and the names both refuse.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packagePath, splitPf } from "../../shared/binhost/index.js";
import { isError } from "../helpers/error-predicate.js";

void describe("package names and paths", () => {
  void test("splitPf follows portage's catpkgsplit", () => {
    const good: Array<[string, string, string]> = [
      ["libsigc++-2.12.1-r1", "libsigc++", "2.12.1-r1"],
      ["gcc-13.2.0", "gcc", "13.2.0"],
      ["bash-5.2_p26-r1", "bash", "5.2_p26-r1"],
      ["font-misc-misc-1.1.3", "font-misc-misc", "1.1.3"],
      ["x264-0.0.20240513", "x264", "0.0.20240513"],
      ["foo-bar-1.0_alpha3_p2-r10", "foo-bar", "1.0_alpha3_p2-r10"],
      ["openssl-3.0.13a", "openssl", "3.0.13a"],
      ["systemd-9999", "systemd", "9999"],
      ["adm-0-r2", "adm", "0-r2"],
      ["python-3.12.3_p1", "python", "3.12.3_p1"],
      ["go-md2man-2.0.3", "go-md2man", "2.0.3"],
      ["perl-Locale-gettext-1.70.0-r1", "perl-Locale-gettext", "1.70.0-r1"],
    ];
    for (const [pf, pn, version] of good) assert.deepEqual(splitPf(pf), { pn, version }, pf);
    for (const bad of [
      "foo",
      "foo-1-2",
      "-1.0",
      "foo-1.0-r",
      "foo-1.0-rc1",
      "foo-bar",
      "foo-1.0_gamma",
      "+x-1",
      "foo-1.0.",
      "fo o-1",
    ])
      assert.throws(() => splitPf(bad), isError("invalid_argument", bad), bad);
  });

  void test("packagePath is the binpkg-multi-instance layout", () => {
    assert.equal(
      packagePath("dev-libs", "libsigc++", "libsigc++-2.12.1-r1", 3, "gpkg.tar"),
      "dev-libs/libsigc++/libsigc++-2.12.1-r1-3.gpkg.tar",
    );
    assert.equal(packagePath("acct-group", "adm", "adm-0-r2", 1, "xpak"), "acct-group/adm/adm-0-r2-1.xpak");
    assert.throws(
      () => packagePath("dev-libs", "libsigc", "libsigc++-2.12.1", 1, "gpkg.tar"),
      isError("invalid_argument", "does not belong"),
    );
    assert.throws(
      () => packagePath("dev-libs", "foo", "foo-1", 0, "gpkg.tar"),
      isError("invalid_argument", "BUILD_ID"),
    );
    assert.throws(
      () => packagePath("dev-libs", "foo", "foo-1", 1.5, "gpkg.tar"),
      isError("invalid_argument", "BUILD_ID"),
    );
    assert.throws(
      () => packagePath("../etc", "foo", "foo-1", 1, "gpkg.tar"),
      isError("invalid_argument", "category"),
    );
  });
});
