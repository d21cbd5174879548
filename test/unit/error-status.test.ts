import assert from "node:assert/strict";
import { test } from "node:test";
import { ERROR_CODES, exitCodeFor, httpStatusFor, StagefarmError } from "../../shared/errors.js";

const CODES = ERROR_CODES;

void test("every error code has an HTTP status and a CLI exit status; only the server's own faults are 500", () => {
  const http = Object.fromEntries(CODES.map((c) => [c, httpStatusFor(c)]));
  assert.deepEqual(http, {
    invalid_pipeline: 400,
    invalid_argument: 400,
    unsafe_archive: 400,
    unauthenticated: 401,
    permission_denied: 403,
    not_found: 404,
    conflict: 409,
    stage_failed: 409,
    missing_output: 409,
    corrupt_artifact: 502,
    digest_mismatch: 502,
    unavailable: 503,
    cancelled: 503,
    timeout: 504,
    internal: 500,
  });
  const exit = Object.fromEntries(CODES.map((c) => [c, exitCodeFor(c)]));
  assert.deepEqual(exit, {
    invalid_pipeline: 2,
    invalid_argument: 2,
    unauthenticated: 2,
    permission_denied: 2,
    cancelled: 130,
    not_found: 1,
    corrupt_artifact: 1,
    digest_mismatch: 1,
    unsafe_archive: 1,
    stage_failed: 1,
    missing_output: 1,
    timeout: 1,
    unavailable: 1,
    conflict: 1,
    internal: 1,
  });
  // The README's exit statuses, and nothing else: 1 failed, 2 bad input, 130 cancelled.
  assert.deepEqual([...new Set(Object.values(exit))].sort(), [1, 130, 2]);
});

void test("wrap says what was being done, keeps a StagefarmError's code and details, and keeps the cause", () => {
  const inner = new StagefarmError("digest_mismatch", "sha256 differs", { details: { digest: "ab" } });
  const w = StagefarmError.wrap(inner, "fetching x", { details: { url: "https://e/x" } });
  assert.equal(w.code, "digest_mismatch");
  assert.equal(w.message, "fetching x: sha256 differs");
  assert.deepEqual(w.details, { digest: "ab", url: "https://e/x" });
  assert.equal(w.cause, inner);
});

void test("wrap classifies what is not a StagefarmError like from, with the fallback for the rest", () => {
  const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
  const w = StagefarmError.wrap(enoent, "cannot read a");
  assert.equal(w.code, "not_found");
  assert.equal(w.message, "cannot read a: ENOENT: no such file");
  assert.equal(w.cause, enoent);
  const eacces = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
  assert.equal(StagefarmError.wrap(eacces, "cannot read b").code, "internal");
  assert.equal(
    StagefarmError.wrap(eacces, "cannot read b", { fallback: "invalid_argument" }).code,
    "invalid_argument",
  );
  const s = StagefarmError.wrap("a thrown string", "doing c", { fallback: "unavailable" });
  assert.equal(s.code, "unavailable");
  assert.equal(s.message, "doing c: a thrown string");
  assert.equal(s.cause, "a thrown string");
});
