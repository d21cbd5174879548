/**
 * Portage's `Packages` index format (shared/binhost): the real reference index (see
 * test/fixtures/binhost/README.md) parsed and rendered back byte for byte, its shape key by key,
 * portage's sort order, index entries made from package metadata, package names, parse errors.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import {
  evaluateDeps,
  nextTimestamp,
  packagePath,
  parsePackages,
  renderPackages,
  sortPackages,
  splitPf,
  stanzaFor,
  withIndexDefaults,
  type PackagesIndex,
  type StanzaSource,
} from "../../shared/binhost/index.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/binhost/Packages");
const REFERENCE = readFileSync(FIXTURE, "utf8");

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

function reference(): PackagesIndex {
  return parsePackages(REFERENCE, "test/fixtures/binhost/Packages");
}

const HEADER = { VERSION: "0", TIMESTAMP: "1700000000", CHOST: "x86_64-pc-linux-gnu" };

void describe("the reference Packages index", () => {
  void test("parses and renders back byte for byte", () => {
    const index = reference();
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
    const { header } = reference();
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
    const { header, packages } = reference();
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
    const { packages } = reference();
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
    const { header, packages } = reference();
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

void describe("parsePackages errors name the line", () => {
  const cases: Array<[string, string, number, string]> = [
    ["empty text", "", 1, "empty"],
    ["no final newline", "VERSION: 0\n\nCPV: a/b-1", 3, "newline"],
    ["CRLF line ends", "VERSION: 0\r\n\r\n", 1, "carriage return"],
    ["a line without ': '", "VERSION: 0\n\nCPV: a/b-1\nSLOT=0\n\n", 4, 'expected "KEY: value"'],
    ["no space after the colon", "VERSION: 0\nTIMESTAMP:1\n\n", 2, 'expected "KEY: value"'],
    ["a duplicate key", "VERSION: 0\n\nCPV: a/b-1\nSLOT: 1\nSLOT: 2\n\n", 5, "SLOT appears a second time"],
    ["two blank lines in a row", "VERSION: 0\n\nCPV: a/b-1\n\n\nCPV: a/c-1\n\n", 5, "second blank line"],
    ["a leading blank line", "\nVERSION: 0\n\n", 1, "blank line"],
    ["a package without CPV", "VERSION: 0\n\nCPV: a/b-1\n\nSLOT: 0\nEAPI: 8\n\n", 5, "no CPV"],
    ["no VERSION", "TIMESTAMP: 1\nPACKAGES: 0\n\n", 1, "no VERSION"],
    ["an unsupported VERSION", "PACKAGES: 0\nVERSION: 1\n\n", 2, "VERSION 1"],
  ];
  for (const [what, text, line, mention] of cases)
    void test(what, () =>
      assert.throws(
        () => parsePackages(text, "farm/Packages"),
        (err: unknown) => {
          assert.ok(isError("invalid_argument", `farm/Packages line ${line}:`, mention)(err));
          assert.ok(err instanceof StagefarmError && err.details.line === line);
          return true;
        },
      ),
    );

  void test("a final block may end at the end of the file", () => {
    assert.deepEqual(parsePackages("VERSION: 0\n\nCPV: a/b-1\n").packages, [{ CPV: "a/b-1" }]);
  });
});

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
    for (const p of reference().packages) {
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
