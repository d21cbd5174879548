/**
 * The strict reading of raw tar header fields (shared/pack/header-fields.ts) and the
 * entry-by-entry comparison of GNU tar's verbose listing with the check's (gnu-listing.ts): a
 * header two parsers could read differently is refused, and members that agree on their names
 * but not on their type, mode, size or link target are refused too.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { compareListings, type ListedMember } from "../../shared/pack/index.js";
import { parseVerboseLine, readRawHeader, permissionString } from "../../shared/pack/testing.js";
import { rawHeader } from "../helpers/tar-fixtures.js";

/** A raw header for "f" with `size` written byte for byte into the size field (checksum fixed). */
function withSize(field: Buffer): Buffer {
  const h = rawHeader("f", "0").subarray(0, 512);
  field.copy(h, 124);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return h;
}

const problem = (block: Buffer, atStart: boolean): string => {
  const r = readRawHeader(block, atStart);
  return typeof r === "string" ? r : "accepted";
};

const sizeOf = (field: Buffer): number | string => {
  const r = readRawHeader(withSize(field), false);
  return typeof r === "string" ? r : r.size;
};

void describe("raw header fields", () => {
  test("octal sizes POSIX allows are read, with the value both parsers give", () => {
    assert.equal(sizeOf(Buffer.from("00000001000\0", "latin1")), 512);
    assert.equal(sizeOf(Buffer.from("   0001000 \0", "latin1")), 512);
    assert.equal(sizeOf(Buffer.from("777777777777", "latin1")), 0o777777777777);
    assert.equal(sizeOf(Buffer.alloc(12)), 0);
    const b256 = Buffer.alloc(12);
    b256[0] = 0x80;
    b256.writeUInt32BE(3 * 2 ** 30, 8);
    assert.equal(sizeOf(b256), 3 * 2 ** 30);
  });

  test("a size field tar-stream and GNU tar read differently is refused", () => {
    assert.match(
      String(sizeOf(Buffer.from("\0 0001000\0\0\0", "latin1"))),
      /size field is not an octal number/,
    );
    assert.match(
      String(sizeOf(Buffer.from("00000001000x", "latin1"))),
      /size field has more after the number/,
    );
    assert.match(String(sizeOf(Buffer.from("0001000 7\0\0\0", "latin1"))), /has more after the number/);
    assert.match(String(sizeOf(Buffer.from("            ", "latin1"))), /not an octal number/);
    const neg = Buffer.alloc(12, 0xff);
    assert.match(String(sizeOf(neg)), /binary encoding not accepted there/);
  });

  test("a wrong checksum, a missing magic, and non-tar input at offset 0", () => {
    const h = rawHeader("f", "0").subarray(0, 512);
    h[0] = 0x67; // "g": the checksum no longer matches
    assert.match(problem(h, false), /wrong checksum/);
    const text = Buffer.alloc(512, "just text\n");
    assert.equal(readRawHeader(text, true), "is not a tar archive (no ustar header at offset 0)");
    assert.match(problem(text, false), /without the ustar magic/);
  });
});

void describe("GNU tar's verbose listing against the check's", () => {
  const file: ListedMember = { name: "a -> b", mode: "-rw-r--r--", size: "5", link: "" };
  const gnu = (members: ListedMember[]) => ({ members, ok: true, why: "" });
  const refusal = (checked: ListedMember[], listed: ListedMember[]): string => {
    try {
      compareListings("archive x", "archive x", checked, gnu(listed));
    } catch (err: unknown) {
      assert.ok(err instanceof StagefarmError);
      assert.equal(err.code, "unsafe_archive");
      return err.message;
    }
    return assert.fail("accepted");
  };

  test("lines are parsed, C quoting included, so a name holding ' -> ' stays one name", () => {
    assert.deepEqual(parseVerboseLine('-rw-r--r-- 0/0               5 2026-12-07 16:08 "a -> b"'), file);
    assert.deepEqual(parseVerboseLine('lrwxrwxrwx 0/0 0 2026-12-07 16:08 "./l -> y" -> "d/f\\nx"'), {
      name: "./l -> y",
      mode: "lrwxrwxrwx",
      size: "0",
      link: " -> d/f\nx",
    });
    assert.deepEqual(parseVerboseLine('hrw-r--r-- 0/0 0 2026-12-07 16:08 "./d/f" link to "./hl"'), {
      name: "./d/f",
      mode: "hrw-r--r--",
      size: "0",
      link: " link to ./hl",
    });
    assert.equal(parseVerboseLine('crw------- 0/0 1,3 2026-12-07 16:08 "null"').size, "1,3");
    assert.equal(permissionString(0o4755), "rwsr-xr-x");
    assert.equal(permissionString(0o1777), "rwxrwxrwt");
    assert.equal(permissionString(0o2644), "rw-r-Sr--");
  });

  test("the same names with another type, mode, size or link target are refused", () => {
    compareListings("archive x", "archive x", [file], gnu([file]));
    assert.match(
      refusal([file], [{ ...file, mode: "crw-r--r--", size: "1,3" }]),
      /reads member 1 \("a -> b"\) with mode "crw-r--r--" where the check read "-rw-r--r--"/,
    );
    assert.match(refusal([file], [{ ...file, size: "512" }]), /with size "512" where the check read "5"/);
    const link: ListedMember = { name: "s", mode: "lrwxrwxrwx", size: "0", link: " -> ok" };
    assert.match(
      refusal([link], [{ ...link, link: " -> ../../x" }]),
      /with link " -> \.\.\/\.\.\/x" where the check read " -> ok"/,
    );
    assert.match(refusal([file], [file, link]), /sees a member the check did not \("s"\)/);
  });
});
