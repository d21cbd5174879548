/**
 * Reading portage's `Packages` index (shared/binhost): parsePackages refuses malformed text with
 * an error naming the file and line, and accepts a final block without its blank line.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parsePackages } from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { isError } from "../helpers/error-predicate.js";

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
