/**
 * A predicate for `assert.throws`/`assert.rejects`: the error is a StagefarmError with the
 * given code whose message mentions every given text.
 */
import assert from "node:assert/strict";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";

export function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}
