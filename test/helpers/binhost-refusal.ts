/**
 * Asserting that a binhost publication (or removal, or configuration) is refused: the promise
 * rejects with a StagefarmError of the given code whose message matches; the error is returned
 * for further checks.
 */
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";

export async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<StagefarmError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return err;
  }
  assert.fail("expected the publication to be refused");
}
