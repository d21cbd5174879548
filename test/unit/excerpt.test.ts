import assert from "node:assert/strict";
import { test } from "node:test";
import { excerpt, quoted } from "../../shared/util/excerpt.js";

test("excerpt escapes control, bidi and zero-width characters", () => {
  assert.equal(excerpt("a\u0000b\nc\u202ed\u200be\u001b[2J"), "a\\u{0}b\\nc\\u{202e}d\\u{200b}e\\u{1b}[2J");
});

test("excerpt keeps printable text, including non-ASCII letters, as it is", () => {
  assert.equal(excerpt("sys-devel/gcc-14 ünïcödé 日本"), "sys-devel/gcc-14 ünïcödé 日本");
});

test("excerpt truncates by code points and says how much was cut", () => {
  const long = "x".repeat(5000);
  const got = excerpt(long, 100);
  assert.equal(got, `${"x".repeat(100)}…(4900 more)`);
  assert.equal(excerpt("😀".repeat(3), 2), "😀😀…(1 more)");
});

test("quoted wraps the excerpt in double quotes", () => {
  assert.equal(quoted("run\u0000id"), '"run\\u{0}id"');
});
