import { test } from "node:test";
import assert from "node:assert/strict";
import { checkProfileHeader, mergeProfileHeader, profileHeaderOf } from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";

// The header portage wrote for a real amd64 binhost (reference/gentoo/binhost-example), cut down.
const REAL = {
  ACCEPT_KEYWORDS: "amd64",
  ARCH: "amd64",
  CHOST: "x86_64-pc-linux-gnu",
  ELIBC: "glibc",
  IUSE_IMPLICIT: "abi_x86_64 prefix prefix-guest prefix-stack",
  KERNEL: "linux",
  PACKAGES: "161",
  USE: "abi_x86_64 acl amd64",
  USE_EXPAND: "ABI_X86 ELIBC KERNEL PYTHON_TARGETS",
  USE_EXPAND_HIDDEN: "ELIBC KERNEL",
  USE_EXPAND_IMPLICIT: "ARCH ELIBC KERNEL",
  USE_EXPAND_UNPREFIXED: "ARCH",
  USE_EXPAND_VALUES_ARCH: "alpha amd64 x86",
  USE_EXPAND_VALUES_ELIBC: "glibc musl",
  USE_EXPAND_VALUES_KERNEL: "linux",
  USE_EXPAND_VALUES_PYTHON_TARGETS: "python3_12",
};

void test("profileHeaderOf keeps what portage's iter_iuse_vars yields, plus ARCH", () => {
  assert.deepEqual(profileHeaderOf(REAL), {
    IUSE_IMPLICIT: "abi_x86_64 prefix prefix-guest prefix-stack",
    USE_EXPAND_IMPLICIT: "ARCH ELIBC KERNEL",
    USE_EXPAND_UNPREFIXED: "ARCH",
    USE_EXPAND: "ABI_X86 ELIBC KERNEL PYTHON_TARGETS",
    USE_EXPAND_VALUES_ARCH: "alpha amd64 x86",
    USE_EXPAND_VALUES_ELIBC: "glibc musl",
    USE_EXPAND_VALUES_KERNEL: "linux",
    ARCH: "amd64",
  });
  // PYTHON_TARGETS is in USE_EXPAND but not implicit: its values are not a profile key.
  assert.equal(profileHeaderOf(REAL).USE_EXPAND_VALUES_PYTHON_TARGETS, undefined);
  assert.deepEqual(profileHeaderOf({ VERSION: "0", ARCH: " " }), {});
});

void test("mergeProfileHeader unites words per key and keeps the first ARCH", () => {
  const a = profileHeaderOf(REAL);
  const b = {
    IUSE_IMPLICIT: "abi_x86_32 prefix",
    USE_EXPAND_IMPLICIT: "ARCH",
    USE_EXPAND_UNPREFIXED: "ARCH",
    ARCH: "x86",
    USE_EXPAND_VALUES_ARCH: "x86 arm64",
  };
  const m = mergeProfileHeader(a, b);
  assert.equal(m.IUSE_IMPLICIT, "abi_x86_32 abi_x86_64 prefix prefix-guest prefix-stack");
  assert.equal(m.USE_EXPAND_VALUES_ARCH, "alpha amd64 arm64 x86");
  assert.equal(m.ARCH, "amd64");
  assert.equal(mergeProfileHeader({}, b).ARCH, "x86");
  assert.deepEqual(mergeProfileHeader(a, {}), a);
});

void test("checkProfileHeader refuses keys that are not profile keys, control characters and oversize", () => {
  checkProfileHeader(profileHeaderOf(REAL), "t");
  const refused = (h: Record<string, string>, re: RegExp): void =>
    assert.throws(
      () => checkProfileHeader(h, "t"),
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument" && re.test(e.message),
    );
  refused({ TIMESTAMP: "9" }, /TIMESTAMP is not a profile key/);
  refused({ URI: "http://elsewhere" }, /URI is not a profile key/);
  refused({ "lower-case": "x" }, /is not an index header key/);
  refused({ IUSE_IMPLICIT: "a\nCPV: x/y-1" }, /control characters/);
  refused({ IUSE_IMPLICIT: "x".repeat(70_000) }, /over 65536 bytes/);
  refused(
    Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`USE_EXPAND_VALUES_K${i}`, "v"])),
    /200 profile header keys/,
  );
});
