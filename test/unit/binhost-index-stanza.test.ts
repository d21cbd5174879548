/**
 * Index entries made from package metadata (shared/binhost stanzaFor): portage's keys with
 * USE-evaluated values, EAPI and BUILD_ID defaults, and the packages portage would refuse.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stanzaFor } from "../../shared/binhost/index.js";
import { type StanzaSource } from "../../shared/binhost/testing.js";
import { isError } from "../helpers/error-predicate.js";

void describe("stanzaFor", () => {
  const base = (
    metadata: Record<string, string>,
    path = "dev-libs/libsigc++/libsigc++-2.12.1-r1-4.gpkg.tar",
  ): StanzaSource => ({
    metadata: {
      CATEGORY: "dev-libs\n",
      PF: "libsigc++-2.12.1-r1\n",
      SLOT: "2\n",
      EAPI: "8\n",
      BUILD_ID: "4\n",
      BUILD_TIME: "1700000000\n",
      USE: "abi_x86_64 amd64 ssl\n",
      IUSE: "doc ssl static-libs\n",
      repository: "gentoo\n",
      CHOST: "x86_64-pc-linux-gnu\n",
      ...metadata,
    },
    path,
    size: 123456,
    mtime: 1700000001.9,
    md5: "0123456789abcdef0123456789abcdef",
    sha1: "0123456789abcdef0123456789abcdef01234567",
  });

  void test("writes portage's keys, USE-evaluated, without empty or unindexed metadata", () => {
    const stanza = stanzaFor(
      base({
        RDEPEND:
          "ssl? ( dev-libs/openssl:0= )\n!ssl? ( dev-libs/libressl ) dev-libs/foo[ssl?,-bar,static-libs=]\n",
        LICENSE: "LGPL-2.1+ doc? ( FDL-1.3 )\n",
        RESTRICT: "!test? ( test )\n",
        PROVIDES: "x86_64: libsigc-2.0.so.0\n",
        REQUIRES: "x86_64: libc.so.6 libstdc++.so.6\n",
        DESCRIPTION: "Typesafe callback system for standard C++\n",
        CBUILD: "x86_64-pc-linux-gnu\n",
        REPO_REVISIONS: '{"gentoo": "abc"}\n',
        KEYWORDS: "",
      }),
    );
    assert.deepEqual(stanza, {
      BUILD_ID: "4",
      BUILD_TIME: "1700000000",
      CHOST: "x86_64-pc-linux-gnu",
      CPV: "dev-libs/libsigc++-2.12.1-r1",
      EAPI: "8",
      IUSE: "doc ssl static-libs",
      LICENSE: "LGPL-2.1+",
      MD5: "0123456789abcdef0123456789abcdef",
      MTIME: "1700000001",
      PATH: "dev-libs/libsigc++/libsigc++-2.12.1-r1-4.gpkg.tar",
      PROVIDES: "x86_64: libsigc-2.0.so.0",
      RDEPEND: "dev-libs/openssl:0= dev-libs/foo[ssl,-bar,-static-libs]",
      REPO: "gentoo",
      REQUIRES: "x86_64: libc.so.6 libstdc++.so.6",
      RESTRICT: "test",
      SHA1: "0123456789abcdef0123456789abcdef01234567",
      SIZE: "123456",
      SLOT: "2",
      USE: "abi_x86_64 amd64 ssl",
    });
  });

  void test("a missing EAPI is 0; BUILD_ID is the package's own, whatever the file name says", () => {
    const stanza = stanzaFor(
      base({ EAPI: "", BUILD_ID: "2\n" }, "dev-libs/libsigc++/libsigc++-2.12.1-r1-7.gpkg.tar"),
    );
    assert.equal(stanza.EAPI, "0");
    assert.equal(stanza.BUILD_ID, "2");
    assert.equal(
      stanzaFor(base({ BUILD_ID: "" }, "dev-libs/libsigc++-2.12.1-r1.gpkg.tar")).BUILD_ID,
      undefined,
    );
  });

  void test("refuses packages portage would refuse, naming the package", () => {
    const cases: Array<[StanzaSource, string]> = [
      [base({ CATEGORY: "" }), "no CATEGORY"],
      [base({ PF: "", SLOT: "" }), "no PF, SLOT"],
      [base({ PF: "libsigc++\n" }), "invalid PF"],
      [base({ BUILD_ID: "four" }), "invalid BUILD_ID"],
      [base({ RDEPEND: "( dev-libs/foo" }), "invalid RDEPEND"],
      [base({ DEPEND: "ssl? dev-libs/foo" }), "invalid DEPEND"],
      [base({}, "dev-libs/libsigc/libsigc++-2.12.1-r1-4.gpkg.tar"), "does not match its metadata"],
      [base({}, "sys-libs/libsigc++/libsigc++-2.12.1-r1-4.gpkg.tar"), "does not match its metadata"],
      [base({}, "dev-libs/libsigc++/libsigc++-2.12.1-r1-04.gpkg.tar"), "does not match its metadata"],
      [base({}, "dev-libs/libsigc++/libsigc++-2.12.1-r1-4.tar"), "does not match its metadata"],
      [{ ...base({}), md5: "XYZ" }, "invalid MD5"],
      [{ ...base({}), sha1: "" }, "invalid SHA1"],
      [{ ...base({}), size: -1 }, "invalid size"],
    ];
    for (const [src, why] of cases)
      assert.throws(
        () => stanzaFor(src),
        isError("invalid_argument", `binary package ${src.path}`, why),
        why,
      );
  });
});
