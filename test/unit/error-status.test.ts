import assert from "node:assert/strict";
import { test } from "node:test";
import { httpStatusFor } from "../../coordinator/testing.js";
import { ERROR_CODES, exitCodeFor } from "../../shared/errors.js";

const CODES = ERROR_CODES;

void test("every error code has an HTTP status and a CLI exit status; only the server's own faults are 500", () => {
  const http = Object.fromEntries(CODES.map((c) => [c, httpStatusFor(c)]));
  assert.deepEqual(http, {
    invalid_pipeline: 400,
    invalid_argument: 400,
    unsafe_archive: 400,
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
});
