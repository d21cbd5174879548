/**
 * Dependency strings in a binhost index (shared/binhost evaluateDeps): portage's use_reduce +
 * paren_enclose output for the same input and USE, the malformed strings portage refuses, and
 * the reference index's values already being evaluated.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { evaluateDeps } from "../../shared/binhost/testing.js";
import { referencePackages } from "../helpers/binhost-reference-index.js";
import { isError } from "../helpers/error-predicate.js";

void describe("evaluateDeps (portage's use_reduce + paren_enclose)", () => {
  // Expected values are portage 3.0.82's output for the same input and USE.
  const cases: Array<[string, string[], boolean, string]> = [
    [
      "ssl? ( dev-libs/openssl:0= ) !ssl? ( dev-libs/libressl ) dev-libs/foo[ssl?,-bar,static-libs=,!doc?,!test=]",
      ["ssl"],
      true,
      "dev-libs/openssl:0= dev-libs/foo[ssl,-bar,-static-libs,-doc,test]",
    ],
    [
      "ssl? ( dev-libs/openssl:0= ) !ssl? ( dev-libs/libressl ) dev-libs/foo[ssl?,-bar,static-libs=,!doc?,!test=]",
      [],
      true,
      "dev-libs/libressl dev-libs/foo[-bar,-static-libs,-doc,test]",
    ],
    [
      "|| ( dev-lang/python:3.12 dev-lang/python:3.11 ) python? ( || ( a/b c/d ) )",
      ["python"],
      true,
      "|| ( dev-lang/python:3.12 dev-lang/python:3.11 ) || ( a/b c/d )",
    ],
    ["|| ( x? ( a/a ) y? ( b/b ) )", ["x"], true, "a/a"],
    ["|| ( x? ( a/a ) y? ( b/b ) )", [], true, "__const__/empty-any-of"],
    ["|| ( x? ( a/a b/b ) c/c )", ["x"], true, "|| ( ( a/a b/b ) c/c )"],
    ["|| ( a/a || ( b/b c/c ) )", [], true, "|| ( a/a b/b c/c )"],
    ["( ( a/a ) ) || ( ( b/b ) )", [], true, "a/a b/b"],
    // Portage ≥ 3.0.82 keeps this inner group in dependency keys (its Atom is no longer a str)
    // but not in plain-token keys; earlier versions dropped it in both.
    ["|| ( a/a ( b/b c/c || ( ( e/e f/f ) ) ) )", [], true, "|| ( a/a ( b/b c/c ( e/e f/f ) ) )"],
    ["|| ( a ( b c || ( ( e f ) ) ) )", [], false, "|| ( a ( b c e f ) )"],
    ["GPL-2 doc? ( FDL-1.3 ) || ( MIT BSD )", [], false, "GPL-2 || ( MIT BSD )"],
    ["test? ( test ) !test? ( binchecks )", [], false, "binchecks"],
    [
      ">=dev-libs/glib-2.74:2[introspection(+)?,-static(-)] sys-libs/zlib:=[abi_x86_32(-)?]",
      ["introspection"],
      true,
      ">=dev-libs/glib-2.74:2[introspection(+),-static(-)] sys-libs/zlib:=",
    ],
    ["  a/b\n\tc/d  ", [], true, "a/b c/d"],
    ["foo/bar:1/2=::gentoo[x?]", ["x"], true, "foo/bar:1/2=[x]"],
    ["", ["x"], true, ""],
  ];
  for (const [dep, use, atoms, expected] of cases)
    void test(`${JSON.stringify(dep)} with USE="${use.join(" ")}"`, () =>
      assert.equal(evaluateDeps(dep, new Set(use), atoms), expected));

  void test("malformed strings are refused as portage refuses them", () => {
    for (const [dep, why] of [
      ["( a/a", 'missing ")"'],
      ["a/a )", 'no matching "("'],
      ["x? a/a", 'expected "("'],
      ["|| a/a", 'expected "("'],
      ["( )", "expected a dependency string"],
      ["x? ( a/a ) ||", 'missing "("'],
      ["foo/bar[x?,x(+)?]", "conflicting defaults"],
      ["foo/bar[-x?]", 'invalid USE dependency "-x?"'],
      ["b%d? ( a/a )", "invalid USE flag"],
    ] as const)
      assert.throws(() => evaluateDeps(dep, new Set(), true), isError("invalid_argument", why), dep);
  });

  void test("the reference index's dependency values are already evaluated (evaluation is idempotent)", () => {
    for (const p of referencePackages().packages) {
      const use = new Set((p.USE ?? "").split(" "));
      for (const key of [
        "BDEPEND",
        "DEPEND",
        "IDEPEND",
        "RDEPEND",
        "PDEPEND",
        "LICENSE",
        "RESTRICT",
        "PROPERTIES",
      ]) {
        const v = p[key];
        if (v !== undefined) assert.equal(evaluateDeps(v, use, key.endsWith("DEPEND")), v, `${p.CPV} ${key}`);
      }
    }
  });
});
